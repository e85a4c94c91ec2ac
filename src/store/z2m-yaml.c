/*
 * Strict reader for the YAML subset of Zigbee2MQTT's configuration files; see z2m-yaml.h.
 *
 * Block structure is decided by indentation, as YAML does: a mapping's keys share one column, a
 * value nested under "key:" is indented further (a sequence may also sit at the key's column).
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/z2m-yaml.h"
#include "util/hex.h"
#include "util/macro.h"

typedef struct Parser {
        const char *s;
        size_t len, pos;
        size_t line_start;              /* offset of the current line's first byte */
        unsigned line;
        unsigned depth;
        const char *file;
        char *err;
        size_t errlen;
} Parser;

DEFINE_TRIVIAL_CLEANUP_FUNC(YamlNode *, yaml_node_free);

YamlNode *yaml_node_free(YamlNode *n) {
        if (!n)
                return NULL;
        free(n->scalar);
        for (size_t i = 0; i < n->n_items; i++) {
                if (n->keys)
                        free(n->keys[i]);
                yaml_node_free(n->items[i]);
        }
        free(n->keys);
        free(n->key_lines);
        free(n->items);
        free(n);
        return NULL;
}

_printf_(2, 3)
static int fail(Parser *p, const char *fmt, ...) {
        char msg[384];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void) snprintf(p->err, p->errlen, "%s:%u: %s", p->file, p->line, msg);
        return -EBADMSG;
}

static int node_new(YamlNode **ret, YamlKind kind, unsigned line) {
        YamlNode *n = calloc(1, sizeof(*n));

        if (!n)
                return -ENOMEM;
        n->kind = kind;
        n->line = line;
        *ret = n;
        return 0;
}

static int scalar_new(YamlNode **ret, unsigned line, char *text, bool quoted) {
        int r = node_new(ret, YAML_SCALAR, line);

        if (r < 0) {
                free(text);
                return r;
        }
        (*ret)->scalar = text;
        (*ret)->quoted = quoted;
        return 0;
}

/* Appends item (taken, freed on failure) and, for mappings, key (taken). */
static int node_append(Parser *p, YamlNode *n, char *key, unsigned key_line, YamlNode *item) {
        size_t k = n->n_items;

        if (k >= YAML_ITEMS_MAX) {
                free(key);
                yaml_node_free(item);
                return fail(p, "more than %d entries in one collection", YAML_ITEMS_MAX);
        }
        if (n->kind == YAML_MAPPING)
                for (size_t i = 0; i < k; i++)
                        if (strcmp(n->keys[i], key) == 0) {
                                unsigned first = n->key_lines[i];
                                int r;

                                p->line = key_line;
                                r = fail(p, "duplicate key '%s' (first defined on line %u)", key, first);
                                free(key);
                                yaml_node_free(item);
                                return r;
                        }
        YamlNode **items = realloc(n->items, (k + 1) * sizeof(*items));
        if (!items)
                goto oom;
        n->items = items;
        if (n->kind == YAML_MAPPING) {
                char **keys = realloc(n->keys, (k + 1) * sizeof(*keys));
                if (!keys)
                        goto oom;
                n->keys = keys;
                unsigned *lines = realloc(n->key_lines, (k + 1) * sizeof(*lines));
                if (!lines)
                        goto oom;
                n->key_lines = lines;
                n->keys[k] = key;
                n->key_lines[k] = key_line;
        }
        n->items[k] = item;
        n->n_items = k + 1;
        return 0;
oom:
        free(key);
        yaml_node_free(item);
        return -ENOMEM;
}

static char peek(const Parser *p, size_t off) {
        return p->pos + off < p->len ? p->s[p->pos + off] : 0;
}

static bool at_eol(const Parser *p) {
        char c = peek(p, 0);
        return p->pos >= p->len || c == '\n' || (c == '\r' && peek(p, 1) == '\n');
}

static bool is_blank_or_eol(char c) {
        return c == 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static unsigned column(const Parser *p) {
        return (unsigned) (p->pos - p->line_start);
}

static void skip_inline_space(Parser *p) {
        while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
                p->pos++;
}

/* Moves past the end of the current line. */
static void next_line(Parser *p) {
        while (p->pos < p->len && p->s[p->pos] != '\n')
                p->pos++;
        if (p->pos < p->len) {
                p->pos++;
                p->line++;
                p->line_start = p->pos;
        }
}

/* After a value: only spaces and a comment may follow on this line. */
static int finish_line(Parser *p) {
        skip_inline_space(p);
        if (peek(p, 0) == '#' || at_eol(p)) {
                next_line(p);
                return 0;
        }
        return fail(p, "unexpected '%c' after the value", peek(p, 0));
}

/*
 * From the start of a line: skips blank and comment-only lines and stops on the first non-space
 * character of the next content line. Returns its column, or -1 at the end of the document.
 */
static int next_content(Parser *p) {
        for (;;) {
                if (p->pos >= p->len)
                        return -1;
                assert(p->pos == p->line_start);
                while (peek(p, 0) == ' ')
                        p->pos++;
                if (peek(p, 0) == '\t') {
                        /* a tab-only line is blank; a tab before content is indentation */
                        size_t save = p->pos;

                        skip_inline_space(p);
                        if (!(at_eol(p) || peek(p, 0) == '#'))
                                return p->pos = save, fail(p, "tab character used for indentation");
                }
                if (at_eol(p) || peek(p, 0) == '#') {
                        next_line(p);
                        continue;
                }
                if (peek(p, 0) == '\r')
                        return fail(p, "carriage return without line feed");
                /* (the text need not be NUL-terminated: look only through peek()) */
                if (column(p) == 0 && peek(p, 0) == peek(p, 1) && peek(p, 1) == peek(p, 2) &&
                    (peek(p, 0) == '-' || peek(p, 0) == '.') && is_blank_or_eol(peek(p, 3)))
                        return fail(p, "document markers ('---', '...') are not supported: one document per file");
                return (int) column(p);
        }
}

static int append_char(char **buf, size_t *n, size_t *cap, char c) {
        if (*n + 2 > *cap) {
                size_t ncap = *cap ? *cap * 2 : 32;
                char *b = realloc(*buf, ncap);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = ncap;
        }
        (*buf)[(*n)++] = c;
        (*buf)[*n] = 0;
        return 0;
}

static int append_utf8(char **buf, size_t *n, size_t *cap, uint32_t cp) {
        char u[4];
        size_t k;
        int r;

        if (cp < 0x80)
                u[0] = (char) cp, k = 1;
        else if (cp < 0x800)
                u[0] = (char) (0xc0 | cp >> 6), u[1] = (char) (0x80 | (cp & 0x3f)), k = 2;
        else if (cp < 0x10000)
                u[0] = (char) (0xe0 | cp >> 12), u[1] = (char) (0x80 | ((cp >> 6) & 0x3f)),
                u[2] = (char) (0x80 | (cp & 0x3f)), k = 3;
        else
                u[0] = (char) (0xf0 | cp >> 18), u[1] = (char) (0x80 | ((cp >> 12) & 0x3f)),
                u[2] = (char) (0x80 | ((cp >> 6) & 0x3f)), u[3] = (char) (0x80 | (cp & 0x3f)), k = 4;
        for (size_t i = 0; i < k; i++) {
                r = append_char(buf, n, cap, u[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A quoted scalar on one line; p->pos is at the opening quote. */
static int parse_quoted(Parser *p, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, cap = 0;
        char q = peek(p, 0);
        int r;

        r = append_char(&buf, &n, &cap, 0);     /* so that "" gives an allocated "" */
        if (r < 0)
                return r;
        n = 0;
        p->pos++;
        for (;;) {
                char c = peek(p, 0);

                if (at_eol(p))
                        return fail(p, "%s-quoted string not closed on this line (multi-line quoted strings "
                                    "are not supported)", q == '"' ? "double" : "single");
                p->pos++;
                if (c == q) {
                        if (q == '\'' && peek(p, 0) == '\'') {
                                p->pos++;
                                r = append_char(&buf, &n, &cap, '\'');
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        break;
                }
                if (q == '"' && c == '\\') {
                        char e = peek(p, 0);
                        unsigned digits = 0;

                        p->pos++;
                        switch (e) {
                        case '0': c = 0; break;
                        case 'a': c = '\a'; break;
                        case 'b': c = '\b'; break;
                        case 't': case '\t': c = '\t'; break;
                        case 'n': c = '\n'; break;
                        case 'v': c = '\v'; break;
                        case 'f': c = '\f'; break;
                        case 'r': c = '\r'; break;
                        case 'e': c = 0x1b; break;
                        case ' ': case '"': case '/': case '\\': c = e; break;
                        case 'x': digits = 2; break;
                        case 'u': digits = 4; break;
                        case 'U': digits = 8; break;
                        case 'N': digits = 0; r = append_utf8(&buf, &n, &cap, 0x85); if (r < 0) return r; continue;
                        case '_': r = append_utf8(&buf, &n, &cap, 0xa0); if (r < 0) return r; continue;
                        case 'L': r = append_utf8(&buf, &n, &cap, 0x2028); if (r < 0) return r; continue;
                        case 'P': r = append_utf8(&buf, &n, &cap, 0x2029); if (r < 0) return r; continue;
                        default:
                                p->pos--;
                                return fail(p, "unknown escape sequence '\\%c' in a double-quoted string",
                                            e ? e : '0');
                        }
                        if (digits > 0) {
                                uint32_t cp = 0;

                                for (unsigned i = 0; i < digits; i++) {
                                        int h = hex_digit_value(peek(p, 0));
                                        if (h < 0)
                                                return fail(p, "escape '\\%c' needs %u hex digits", e, digits);
                                        cp = cp << 4 | (uint32_t) h;
                                        p->pos++;
                                }
                                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                                        return fail(p, "escape '\\%c' names no Unicode character", e);
                                if (cp == 0)
                                        return fail(p, "NUL characters are not supported in strings");
                                r = append_utf8(&buf, &n, &cap, cp);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (c == 0)
                                return fail(p, "NUL characters are not supported in strings");
                }
                r = append_char(&buf, &n, &cap, c);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool is_flow_indicator(char c) {
        return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

/* Characters that may not start a plain scalar (YAML "c-indicator"), '-', '?', ':' aside. */
static int check_plain_start(Parser *p) {
        char c = peek(p, 0);

        switch (c) {
        case '&': return fail(p, "anchors ('&') are not supported");
        case '*': return fail(p, "aliases ('*') are not supported");
        case '!': return fail(p, "tags ('!') are not supported; quote the value if it is a string");
        case '%': return fail(p, "directives ('%%') are not supported");
        case '@': case '`': return fail(p, "'%c' is reserved and cannot start a plain value", c);
        case '?': if (is_blank_or_eol(peek(p, 1))) return fail(p, "complex keys ('? ') are not supported"); break;
        case '|': case '>': return fail(p, "a block scalar ('%c') is not allowed here", c);
        case ',': case ']': case '}': return fail(p, "unexpected '%c'", c);
        default: break;
        }
        return 0;
}

/* A plain scalar up to the end of the line, a " #" comment, or (in flow) a flow indicator or
 * ": "; with stop_at_colon, also a ": " key separator. */
static int parse_plain(Parser *p, bool flow, bool stop_at_colon, char **ret) {
        size_t start = p->pos, end;
        int r;

        r = check_plain_start(p);
        if (r < 0)
                return r;
        for (;;) {
                char c = peek(p, 0);

                if (at_eol(p))
                        break;
                if (c == '\r')
                        return fail(p, "carriage return without line feed");
                if (c == '#' && p->pos > start && (p->s[p->pos - 1] == ' ' || p->s[p->pos - 1] == '\t'))
                        break;
                if (c == ':' && (is_blank_or_eol(peek(p, 1)) || (flow && is_flow_indicator(peek(p, 1))))) {
                        if (stop_at_colon || flow)
                                break;
                        return fail(p, "a ':' followed by a space inside a plain value; quote the value");
                }
                if (flow && is_flow_indicator(c))
                        break;
                p->pos++;
        }
        end = p->pos;
        while (end > start && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t'))
                end--;
        *ret = strndup(p->s + start, end - start);
        return *ret ? 0 : -ENOMEM;
}

static int parse_flow(Parser *p, YamlNode **ret);

/* Inside a flow collection: skips spaces, newlines and comments. */
static int flow_skip(Parser *p) {
        for (;;) {
                char c = peek(p, 0);

                if (c == ' ' || c == '\t')
                        p->pos++;
                else if (c == '\r' && peek(p, 1) == '\n')
                        p->pos++;
                else if (c == '\n')
                        next_line(p);
                else if (c == '#' && p->pos > 0 && is_blank_or_eol(p->s[p->pos - 1]))
                        next_line(p);
                else if (p->pos >= p->len)
                        return fail(p, "flow collection not closed before the end of the file");
                else
                        return 0;
        }
}

static int parse_flow_scalar(Parser *p, YamlNode **ret) {
        unsigned line = p->line;
        char *text = NULL;
        bool quoted = false;
        int r;

        if (peek(p, 0) == '[' || peek(p, 0) == '{')
                return parse_flow(p, ret);
        if (peek(p, 0) == '"' || peek(p, 0) == '\'') {
                quoted = true;
                r = parse_quoted(p, &text);
        } else
                r = parse_plain(p, true, true, &text);
        if (r < 0)
                return r;
        if (!quoted && at_eol(p) && text[0] && p->pos < p->len) {
                /* a plain scalar that goes on after the line break */
                size_t save = p->pos;
                unsigned save_line = p->line;
                size_t save_ls = p->line_start;

                r = flow_skip(p);
                if (r >= 0 && !is_flow_indicator(peek(p, 0)) && peek(p, 0) != ':') {
                        free(text);
                        return fail(p, "multi-line plain values are not supported; quote the value");
                }
                p->pos = save, p->line = save_line, p->line_start = save_ls;
        }
        return scalar_new(ret, line, text, quoted);
}

static int parse_flow(Parser *p, YamlNode **ret) {
        _cleanup_(yaml_node_freep) YamlNode *n = NULL;
        bool mapping = peek(p, 0) == '{';
        char close = mapping ? '}' : ']';
        int r;

        if (++p->depth > YAML_DEPTH_MAX)
                return fail(p, "nested deeper than %d levels", YAML_DEPTH_MAX);
        r = node_new(&n, mapping ? YAML_MAPPING : YAML_SEQUENCE, p->line);
        if (r < 0)
                return r;
        p->pos++;
        for (;;) {
                YamlNode *item = NULL;
                char *key = NULL;
                unsigned key_line;

                r = flow_skip(p);
                if (r < 0)
                        return r;
                if (peek(p, 0) == close) {
                        p->pos++;
                        break;
                }
                key_line = p->line;
                if (mapping) {
                        if (peek(p, 0) == '"' || peek(p, 0) == '\'')
                                r = parse_quoted(p, &key);
                        else if (peek(p, 0) == '[' || peek(p, 0) == '{')
                                return fail(p, "collections as mapping keys are not supported");
                        else
                                r = parse_plain(p, true, true, &key);
                        if (r < 0)
                                return r;
                        r = flow_skip(p);
                        if (r < 0 || peek(p, 0) != ':') {
                                free(key);
                                return r < 0 ? r : fail(p, "expected ':' after the key in a flow mapping");
                        }
                        p->pos++;
                        r = flow_skip(p);
                        if (r < 0) {
                                free(key);
                                return r;
                        }
                        if (peek(p, 0) == ',' || peek(p, 0) == '}') {
                                char *empty = strdup("");
                                r = empty ? scalar_new(&item, p->line, empty, false) : -ENOMEM;
                        } else
                                r = parse_flow_scalar(p, &item);
                        if (r < 0) {
                                free(key);
                                return r;
                        }
                } else {
                        r = parse_flow_scalar(p, &item);
                        if (r < 0)
                                return r;
                        r = flow_skip(p);
                        if (r >= 0 && peek(p, 0) == ':') {
                                yaml_node_free(item);
                                return fail(p, "'key: value' pairs inside a flow sequence are not supported");
                        }
                }
                r = node_append(p, n, key, key_line, item);
                if (r < 0)
                        return r;
                r = flow_skip(p);
                if (r < 0)
                        return r;
                if (peek(p, 0) == ',')
                        p->pos++;
                else if (peek(p, 0) != close)
                        return fail(p, "expected ',' or '%c' in a flow collection, found '%c'", close, peek(p, 0));
        }
        p->depth--;
        *ret = TAKE_PTR(n);
        return 0;
}

/*
 * Block scalar: '|' (literal) or '>' (folded) with optional chomping ('-', '+') and indentation
 * digit. p->pos is at the indicator; parent is the column of the owning key or '-'. Leaves p at
 * the start of the first line after the scalar.
 */
static int parse_block_scalar(Parser *p, int parent, YamlNode **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, cap = 0, pending = 0;
        bool folded = peek(p, 0) == '>', have_content = false, prev_more = false;
        char chomp = 0;
        int indent = -1, r;
        unsigned line = p->line;

        p->pos++;
        for (int i = 0; i < 2; i++) {
                char c = peek(p, 0);
                if ((c == '-' || c == '+') && !chomp)
                        chomp = c, p->pos++;
                else if (c >= '1' && c <= '9' && indent < 0)
                        indent = MAX(parent, 0) + (c - '0'), p->pos++;
        }
        r = finish_line(p);
        if (r < 0)
                return r;
        r = append_char(&buf, &n, &cap, 0);
        if (r < 0)
                return r;
        n = 0;

        while (p->pos < p->len) {
                size_t ls = p->pos;
                int col = 0;
                bool more;

                while (peek(p, 0) == ' ')
                        p->pos++, col++;
                if (at_eol(p) && (indent < 0 || col <= indent)) {
                        pending++;              /* an empty line */
                        next_line(p);
                        continue;
                }
                if (indent < 0) {
                        if (col <= parent) {
                                p->pos = ls;
                                break;
                        }
                        indent = col;
                }
                if (col < indent) {
                        p->pos = ls;
                        break;
                }
                p->pos = ls + (size_t) indent;
                more = peek(p, 0) == ' ' || peek(p, 0) == '\t';
                if (!have_content)
                        for (size_t i = 0; i < pending; i++)
                                r = r < 0 ? r : append_char(&buf, &n, &cap, '\n');
                else if (folded && !more && !prev_more)
                        if (pending == 0)
                                r = append_char(&buf, &n, &cap, ' ');
                        else
                                for (size_t i = 0; i < pending; i++)
                                        r = r < 0 ? r : append_char(&buf, &n, &cap, '\n');
                else
                        for (size_t i = 0; i <= pending; i++)
                                r = r < 0 ? r : append_char(&buf, &n, &cap, '\n');
                while (r >= 0 && !at_eol(p)) {
                        r = append_char(&buf, &n, &cap, peek(p, 0));
                        p->pos++;
                }
                if (r < 0)
                        return r;
                pending = 0;
                have_content = true;
                prev_more = more;
                next_line(p);
        }
        /* chomping: "clip" keeps one final line break, "strip" none, "keep" all */
        if (chomp != '-' && have_content)
                r = append_char(&buf, &n, &cap, '\n');
        if (chomp == '+')
                for (size_t i = 0; i < pending; i++)
                        r = r < 0 ? r : append_char(&buf, &n, &cap, '\n');
        if (r < 0)
                return r;
        return scalar_new(ret, line, TAKE_PTR(buf), true);
}

/* A value on the same line as its key or '-'; leaves p at the start of the next line. */
static int parse_inline_value(Parser *p, int parent, YamlNode **ret) {
        unsigned line = p->line;
        char *text = NULL;
        int r;

        switch (peek(p, 0)) {
        case '[': case '{':
                r = parse_flow(p, ret);
                if (r < 0)
                        return r;
                r = finish_line(p);
                if (r < 0)
                        *ret = yaml_node_free(*ret);
                return r;
        case '"': case '\'':
                r = parse_quoted(p, &text);
                if (r < 0)
                        return r;
                r = finish_line(p);
                if (r < 0) {
                        free(text);
                        return r;
                }
                return scalar_new(ret, line, text, true);
        case '|': case '>':
                return parse_block_scalar(p, parent, ret);
        case '-':
                if (is_blank_or_eol(peek(p, 1)))
                        return fail(p, "a sequence cannot start on the same line as its key");
                break;
        default:
                break;
        }
        r = parse_plain(p, false, false, &text);
        if (r < 0)
                return r;
        r = finish_line(p);
        if (r < 0) {
                free(text);
                return r;
        }
        return scalar_new(ret, line, text, false);
}

/* If a "key:" starts at p->pos, consumes it through the ':' and returns 1; else restores p, 0. */
static int scan_key(Parser *p, char **ret) {
        size_t save = p->pos;
        char *key = NULL;
        char c = peek(p, 0);
        int r;

        if (c == '"' || c == '\'') {
                r = parse_quoted(p, &key);
                if (r < 0)
                        return r;
                skip_inline_space(p);
                if (peek(p, 0) != ':' || !is_blank_or_eol(peek(p, 1))) {
                        free(key);
                        p->pos = save;
                        return 0;
                }
        } else {
                if (c == '[' || c == '{' || c == '|' || c == '>' || c == '#' ||
                    (c == '-' && is_blank_or_eol(peek(p, 1))))
                        return 0;
                r = parse_plain(p, false, true, &key);
                if (r < 0)
                        return r;
                if (peek(p, 0) != ':') {
                        free(key);
                        p->pos = save;
                        return 0;
                }
        }
        p->pos++;       /* ':' */
        *ret = key;
        return 1;
}

static int parse_block_node(Parser *p, int parent, YamlNode **ret);
static int parse_block_sequence(Parser *p, int indent, YamlNode **ret);

/* The value after "key:" on the line p is on; leaves p at the next content line (or EOF). */
static int parse_mapping_value(Parser *p, int indent, YamlNode **ret) {
        int m, r;

        skip_inline_space(p);
        if (peek(p, 0) == '#' || at_eol(p)) {
                char *empty;
                unsigned line = p->line;

                next_line(p);
                m = next_content(p);
                if (m == -EBADMSG)
                        return m;
                if (m > indent)
                        return parse_block_node(p, indent, ret);
                if (m == indent && peek(p, 0) == '-' && is_blank_or_eol(peek(p, 1)))
                        return parse_block_sequence(p, indent, ret);
                empty = strdup("");
                return empty ? scalar_new(ret, line, empty, false) : -ENOMEM;
        }
        r = parse_inline_value(p, indent, ret);
        if (r < 0)
                return r;
        m = next_content(p);
        if (m == -EBADMSG) {
                *ret = yaml_node_free(*ret);
                return m;
        }
        return 0;
}

/* A block mapping whose first key is at p->pos, in column indent. */
static int parse_block_mapping(Parser *p, int indent, const char *const *only_keys, YamlNode **ret) {
        _cleanup_(yaml_node_freep) YamlNode *n = NULL;
        int r, m;

        if (++p->depth > YAML_DEPTH_MAX)
                return fail(p, "nested deeper than %d levels", YAML_DEPTH_MAX);
        r = node_new(&n, YAML_MAPPING, p->line);
        if (r < 0)
                return r;
        for (;;) {
                YamlNode *value = NULL;
                char *key = NULL;
                unsigned key_line = p->line;
                bool skip = false;

                if (peek(p, 0) == '-' && is_blank_or_eol(peek(p, 1)))
                        return fail(p, "expected 'key: value', found a sequence entry");
                r = scan_key(p, &key);
                if (r < 0)
                        return r;
                if (r == 0) {
                        if (peek(p, 0) == '?' && is_blank_or_eol(peek(p, 1)))
                                return fail(p, "complex keys ('? ') are not supported");
                        return fail(p, "expected 'key: value'");
                }
                if (only_keys) {
                        skip = true;
                        for (const char *const *k = only_keys; *k; k++)
                                if (strcmp(*k, key) == 0)
                                        skip = false;
                }
                if (skip) {
                        /* Not ours: step over everything indented below it (a top-level section may
                         * also continue with a sequence at column 0). */
                        char *empty = strdup("");

                        next_line(p);
                        for (;;) {
                                m = next_content(p);
                                if (m == -EBADMSG)
                                        p->err[0] = 0;          /* not ours to judge */
                                if (m < 0 && m != -EBADMSG)
                                        break;
                                if (m == -EBADMSG || m > indent ||
                                    (m == indent && peek(p, 0) == '-' && is_blank_or_eol(peek(p, 1)))) {
                                        next_line(p);
                                        continue;
                                }
                                break;
                        }
                        r = empty ? scalar_new(&value, key_line, empty, false) : -ENOMEM;
                } else
                        r = parse_mapping_value(p, indent, &value);
                if (r < 0) {
                        free(key);
                        return r;
                }
                r = node_append(p, n, key, key_line, value);
                if (r < 0)
                        return r;

                if (p->pos >= p->len)
                        break;
                m = (int) column(p);
                if (m < indent)
                        break;
                if (m > indent)
                        return fail(p, "unexpected indentation (a value cannot continue on this line; "
                                    "multi-line plain values are not supported)");
        }
        p->depth--;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_block_sequence(Parser *p, int indent, YamlNode **ret) {
        _cleanup_(yaml_node_freep) YamlNode *n = NULL;
        int r, m;

        if (++p->depth > YAML_DEPTH_MAX)
                return fail(p, "nested deeper than %d levels", YAML_DEPTH_MAX);
        r = node_new(&n, YAML_SEQUENCE, p->line);
        if (r < 0)
                return r;
        for (;;) {
                YamlNode *item = NULL;
                unsigned line = p->line;

                if (!(peek(p, 0) == '-' && is_blank_or_eol(peek(p, 1))))
                        break;          /* the parent decides whether this line is valid */
                p->pos++;
                skip_inline_space(p);
                if (peek(p, 0) == '#' || at_eol(p)) {
                        next_line(p);
                        m = next_content(p);
                        if (m == -EBADMSG)
                                return m;
                        if (m > indent)
                                r = parse_block_node(p, indent, &item);
                        else {
                                char *empty = strdup("");
                                r = empty ? scalar_new(&item, line, empty, false) : -ENOMEM;
                        }
                } else {
                        int c = (int) column(p);
                        char *probe = NULL;
                        size_t save = p->pos;

                        r = scan_key(p, &probe);
                        p->pos = save;
                        free(probe);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                r = parse_block_mapping(p, c, NULL, &item);
                        else if (peek(p, 0) == '-' && is_blank_or_eol(peek(p, 1)))
                                r = parse_block_sequence(p, c, &item);
                        else {
                                r = parse_inline_value(p, indent, &item);
                                if (r >= 0) {
                                        m = next_content(p);
                                        if (m == -EBADMSG) {
                                                yaml_node_free(item);
                                                return m;
                                        }
                                }
                        }
                }
                if (r < 0)
                        return r;
                r = node_append(p, n, NULL, line, item);
                if (r < 0)
                        return r;
                if (p->pos >= p->len)
                        break;
                m = (int) column(p);
                if (m < indent)
                        break;
                if (m > indent)
                        return fail(p, "unexpected indentation after a sequence entry");
        }
        p->depth--;
        *ret = TAKE_PTR(n);
        return 0;
}

/* A node starting at p->pos (first content of a line), more indented than parent. */
static int parse_block_node(Parser *p, int parent, YamlNode **ret) {
        int indent = (int) column(p), r;
        char *probe = NULL;
        size_t save = p->pos;

        if (peek(p, 0) == '-' && is_blank_or_eol(peek(p, 1)))
                return parse_block_sequence(p, indent, ret);
        r = scan_key(p, &probe);
        p->pos = save;
        free(probe);
        if (r < 0)
                return r;
        if (r > 0)
                return parse_block_mapping(p, indent, NULL, ret);
        /* a lone value on its own line */
        r = parse_inline_value(p, parent, ret);
        if (r < 0)
                return r;
        r = next_content(p);
        if (r == -EBADMSG)
                *ret = yaml_node_free(*ret);
        return r == -EBADMSG ? r : 0;
}

int yaml_parse(const char *text, size_t len, const char *file, const char *const *only_keys,
               YamlNode **ret, char *err, size_t errlen) {
        Parser p = { .s = text, .len = len, .line = 1, .file = file ? file : "<yaml>",
                     .err = err, .errlen = errlen };
        YamlNode *root = NULL;
        int m, r;

        if (errlen > 0)
                err[0] = 0;
        if (memchr(text, 0, len)) {
                p.line = 1;
                for (const char *c = text; c < text + len && *c; c++)
                        if (*c == '\n')
                                p.line++;
                return fail(&p, "NUL byte in the file");
        }
        /* A UTF-8 byte order mark is allowed at the very start. */
        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                p.pos = p.line_start = 3;

        m = next_content(&p);
        if (m == -EBADMSG)
                return m;
        if (m < 0) {
                r = node_new(&root, YAML_MAPPING, 1);
                if (r < 0)
                        return r;
                *ret = root;
                return 0;
        }
        if (m > 0)
                return fail(&p, "the first line of the document is indented");
        if (only_keys) {
                char *probe = NULL;
                size_t save = p.pos;

                r = scan_key(&p, &probe);
                p.pos = save;
                free(probe);
                if (r < 0)
                        return r;
                if (r == 0)
                        return fail(&p, "expected a mapping ('key: value') at the top level");
                r = parse_block_mapping(&p, 0, only_keys, &root);
        } else
                r = parse_block_node(&p, -1, &root);
        if (r < 0)
                return r;
        if (p.pos < p.len) {
                yaml_node_free(root);
                return fail(&p, "unexpected content at the top level");
        }
        *ret = root;
        return 0;
}

const YamlNode *yaml_mapping_get(const YamlNode *map, const char *key) {
        if (!map || map->kind != YAML_MAPPING)
                return NULL;
        for (size_t i = 0; i < map->n_items; i++)
                if (strcmp(map->keys[i], key) == 0)
                        return map->items[i];
        return NULL;
}

static bool one_of(const char *s, const char *const *list) {
        for (; *list; list++)
                if (strcmp(s, *list) == 0)
                        return true;
        return false;
}

bool yaml_scalar_is_null(const YamlNode *n) {
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };

        return n && n->kind == YAML_SCALAR && !n->quoted && one_of(n->scalar, nulls);
}

int yaml_scalar_bool(const YamlNode *n, bool *ret) {
        static const char *const yes[] = { "true", "True", "TRUE", NULL };
        static const char *const no[] = { "false", "False", "FALSE", NULL };

        if (!n || n->kind != YAML_SCALAR || n->quoted)
                return -EINVAL;
        if (one_of(n->scalar, yes))
                *ret = true;
        else if (one_of(n->scalar, no))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

/* js-yaml's int: [-+]? then decimal, 0b, 0o or 0x digits; '_' allowed between digits. */
int yaml_scalar_int(const YamlNode *n, int64_t *ret) {
        const char *s;
        bool neg = false;
        unsigned base = 10;
        uint64_t v = 0;
        bool any = false;

        if (!n || n->kind != YAML_SCALAR || n->quoted)
                return -EINVAL;
        s = n->scalar;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
                base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
                s += 2;
        }
        if (*s == '_')
                return -EINVAL;
        for (; *s; s++) {
                int d;

                if (*s == '_')
                        continue;
                d = hex_digit_value(*s);
                if (d < 0 || (unsigned) d >= base)
                        return -EINVAL;
                if (v > (UINT64_MAX - (unsigned) d) / base)
                        return -ERANGE;
                v = v * base + (unsigned) d;
                any = true;
        }
        if (!any)
                return -EINVAL;
        if (neg ? v > (uint64_t) INT64_MAX + 1 : v > INT64_MAX)
                return -ERANGE;
        *ret = neg ? (int64_t) (0 - v) : (int64_t) v;
        return 0;
}

int yaml_scalar_number(const YamlNode *n, double *ret) {
        static const char *const inf[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL };
        static const char *const ninf[] = { "-.inf", "-.Inf", "-.INF", NULL };
        static const char *const nan_[] = { ".nan", ".NaN", ".NAN", NULL };
        const char *s;
        char *end;
        int64_t i;
        bool digit = false;

        if (!n || n->kind != YAML_SCALAR || n->quoted)
                return -EINVAL;
        if (yaml_scalar_int(n, &i) == 0) {
                *ret = (double) i;
                return 0;
        }
        s = n->scalar;
        if (one_of(s, inf))
                return *ret = HUGE_VAL, 0;
        if (one_of(s, ninf))
                return *ret = -HUGE_VAL, 0;
        if (one_of(s, nan_))
                return *ret = NAN, 0;
        /* [-+]?(\.[0-9]+|[0-9][0-9_]*)(\.[0-9_]*)?([eE][-+]?[0-9]+)? without hex or inf forms */
        for (const char *c = s; *c; c++) {
                if (*c >= '0' && *c <= '9')
                        digit = true;
                else if (!strchr("+-.eE_", *c))
                        return -EINVAL;
        }
        if (!digit || strchr(s, '_'))
                return -EINVAL;
        errno = 0;
        *ret = strtod(s, &end);
        if (*end || errno != 0)
                return -EINVAL;
        return 0;
}

int yaml_node_to_json(const YamlNode *n, json_object **ret) {
        json_object *o = NULL;
        int64_t i;
        double d;
        bool b;
        int r;

        switch (n->kind) {
        case YAML_SCALAR:
                if (yaml_scalar_is_null(n)) {
                        *ret = NULL;    /* json-c's null */
                        return 0;
                }
                if (yaml_scalar_bool(n, &b) == 0)
                        o = json_object_new_boolean(b);
                else if (yaml_scalar_int(n, &i) == 0)
                        o = json_object_new_int64(i);
                else if (yaml_scalar_number(n, &d) == 0) {
                        if (!isfinite(d))
                                return -EDOM;   /* JSON has no inf/nan */
                        o = json_object_new_double(d);
                } else
                        o = json_object_new_string(n->scalar);
                break;
        case YAML_MAPPING:
        case YAML_SEQUENCE:
                o = n->kind == YAML_MAPPING ? json_object_new_object() : json_object_new_array();
                if (!o)
                        return -ENOMEM;
                for (size_t k = 0; k < n->n_items; k++) {
                        json_object *v;

                        r = yaml_node_to_json(n->items[k], &v);
                        if (r >= 0)
                                r = n->kind == YAML_MAPPING ? json_object_object_add(o, n->keys[k], v)
                                                            : json_object_array_add(o, v);
                        if (r < 0) {
                                json_object_put(o);
                                return r == -1 ? -ENOMEM : r;
                        }
                }
                break;
        }
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}
