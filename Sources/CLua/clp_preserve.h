/* clp_preserve.h: owns the contract a userdata meets to survive preserve_data: the
 * metafields it provides and the registry table of restorers its module fills. */
#ifndef CLP_PRESERVE_H
#define CLP_PRESERVE_H

/* Metafield: a C function returning the userdata's text. */
#define CLP_META_PRESERVE "__clp_preserve"
/* Metafield: the kind (a string), the key of its restorer. */
#define CLP_META_KIND "__clp_kind"
/* Registry: kind -> C function(text) returning a new userdata. */
#define CLP_REG_RESTORERS "clp.restorers"

#endif
