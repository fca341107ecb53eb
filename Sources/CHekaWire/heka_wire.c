/* heka_wire.c: empty on purpose. CHekaWire is header-only (include/heka_wire.h);
 * SwiftPM needs one source file to make it a C target. */
#include "heka_wire.h"
