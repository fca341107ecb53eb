--[[
Table helpers, compatible with the util module of Heka's sandbox (lua_sandbox).

table_to_fields(t, fields, parent, char, max_depth)
    Flattens the nested table `t` into `fields` so that it can be a message's Fields:
    t = {a = 1, b = {c = "x", d = {e = true}}} gives fields["a"] = 1,
    fields["b.c"] = "x", fields["b.d.e"] = true. `parent` prefixes every name;
    `char` joins the parts (default "."); below `max_depth` levels (default: none) a
    table is left out. Userdata values (a circular buffer, say) are left out, as in Heka.
    Returns `fields`.
--]]

local M = {}

function M.table_to_fields(t, fields, parent, char, max_depth)
    char = char or "."
    local function walk(tbl, prefix, depth)
        if max_depth and depth > max_depth then return end
        for k, v in pairs(tbl) do
            local name = prefix and (prefix .. char .. tostring(k)) or tostring(k)
            if type(v) == "table" then
                walk(v, name, depth + 1)
            elseif type(v) ~= "userdata" then
                fields[name] = v
            end
        end
    end
    walk(t, parent, 1)
    return fields
end

return M
