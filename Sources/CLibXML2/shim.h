#ifndef CLIBXML2_SHIM_H
#define CLIBXML2_SHIM_H

// Debian builds libxml2 with ICU, so <libxml/encoding.h> includes the system's ICU headers, whose
// `UErrorCode` clashes with the copy inside Foundation ("has different definitions in different
// modules") in any Swift module that sees both. Nothing here uses libxml2's ICU converters: the
// only type this changes is xmlCharEncodingHandler, which Swift code never reads by value.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/tree.h>

/// `xmlFree` is a global function-pointer variable, which Swift 6 rejects as not
/// concurrency-safe; this wrapper is a plain function.
static inline void clibxml2_free(void *p) { xmlFree(p); }

#endif
