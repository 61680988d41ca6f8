// The HTTP/1.1 parser of Debian's libhttp-parser-dev (no pkg-config file: linked by name).
// The accessors read the parser's bitfields as plain integers for Swift.
#include <http_parser.h>

static inline unsigned int tessera_http_errno(const http_parser *parser) { return parser->http_errno; }
static inline unsigned int tessera_http_method(const http_parser *parser) { return parser->method; }
static inline unsigned int tessera_http_flags(const http_parser *parser) { return parser->flags; }
static inline unsigned int tessera_http_upgrade(const http_parser *parser) { return parser->upgrade; }
static inline unsigned int tessera_http_status(const http_parser *parser) { return parser->status_code; }
