// The scans are `static inline` in include/CTextScan.h; a C target needs one source file.
#include "CTextScan.h"
