-- A counting filter that holds about 1 MiB of globals (preserve_data): scripts/bench
-- measures what consistent checkpoints of such a state cost end to end.
state = {}
for i = 1, 16384 do state[i] = string.rep("x", 56) .. string.format("%08d", i) end
count = 0

function process_message()
    count = count + 1
    return 0
end
