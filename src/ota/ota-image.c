/*
 * OTA upgrade files (see ota-image.h). Layout from the ZCL spec 11.4.2 (little-endian):
 *   0 identifier u32 | 4 header version u16 | 6 header length u16 | 8 field control u16 |
 *  10 manufacturer u16 | 12 image type u16 | 14 file version u32 | 18 stack version u16 |
 *  20 header string [32] | 52 total image size u32 | 56 [security credential u8]
 *  [destination EUI-64] [min hw u16, max hw u16] ... then sub-elements {tag u16, length u32, data}.
 * zigbee-herdsman (src/controller/helpers/ota.ts) reads the same fields and walks the elements
 * (its Telink tag 0xF000 carries two extra bytes before the data, not counted in the length).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ota/ota-image.h"
#include "util/macro.h"

#define TAG_TELINK_AES 0xF000u

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (err && errlen > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

long ota_image_find_identifier(const uint8_t *buf, size_t len) {
        for (size_t i = 0; buf && i + 4 <= len; i++)
                if (get32(buf + i) == OTA_FILE_IDENTIFIER)
                        return (long) i;
        return -ENOENT;
}

int ota_header_parse(const uint8_t *buf, size_t len, OtaHeader *ret, char *err, size_t errlen) {
        OtaHeader h = {};
        size_t need = OTA_HEADER_FIXED_SIZE, pos = OTA_HEADER_FIXED_SIZE;

        if (!buf || len < 4 || get32(buf) != OTA_FILE_IDENTIFIER)
                return fail(err, errlen, "not an OTA file (no 0x0BEEF11E file identifier)");
        if (len < OTA_HEADER_FIXED_SIZE)
                return fail(err, errlen, "truncated: %zu bytes, an OTA header needs at least %u", len,
                            OTA_HEADER_FIXED_SIZE);
        h.header_version = get16(buf + 4);
        h.header_length = get16(buf + 6);
        h.field_control = get16(buf + 8);
        h.manufacturer_code = get16(buf + 10);
        h.image_type = get16(buf + 12);
        h.file_version = get32(buf + 14);
        h.stack_version = get16(buf + 18);
        for (size_t i = 0; i < 32; i++) {
                uint8_t c = buf[20 + i];
                h.header_string[i] = c >= 0x20 && c < 0x7f ? (char) c : (c == 0 ? 0 : '.');
        }
        h.header_string[32] = 0;
        h.total_image_size = get32(buf + 52);

        if (h.header_version != OTA_HEADER_VERSION)
                return fail(err, errlen, "unsupported OTA header version 0x%04x (expected 0x%04x)", h.header_version,
                            OTA_HEADER_VERSION);
        if (h.field_control & ~(OTA_FC_SECURITY_CREDENTIAL | OTA_FC_DEVICE_SPECIFIC | OTA_FC_HARDWARE_VERSIONS))
                return fail(err, errlen, "unknown bits in the header field control 0x%04x", h.field_control);
        if (h.field_control & OTA_FC_SECURITY_CREDENTIAL)
                need += 1;
        if (h.field_control & OTA_FC_DEVICE_SPECIFIC)
                need += 8;
        if (h.field_control & OTA_FC_HARDWARE_VERSIONS)
                need += 4;
        if (h.header_length < need)
                return fail(err, errlen, "header length %u is shorter than the %zu bytes its field control 0x%04x needs",
                            h.header_length, need, h.field_control);
        if (h.total_image_size < h.header_length)
                return fail(err, errlen, "total image size %u is smaller than the header length %u", h.total_image_size,
                            h.header_length);
        if (len < h.header_length)
                return fail(err, errlen, "truncated: %zu bytes, the header alone is %u", len, h.header_length);

        if (h.field_control & OTA_FC_SECURITY_CREDENTIAL)
                h.security_credential_version = buf[pos++];
        if (h.field_control & OTA_FC_DEVICE_SPECIFIC) {
                for (size_t i = 0; i < 8; i++)
                        h.destination |= (uint64_t) buf[pos + i] << (8 * i);
                pos += 8;
        }
        if (h.field_control & OTA_FC_HARDWARE_VERSIONS) {
                h.min_hw_version = get16(buf + pos);
                h.max_hw_version = get16(buf + pos + 2);
                if (h.min_hw_version > h.max_hw_version)
                        return fail(err, errlen, "minimum hardware version %u above the maximum %u", h.min_hw_version,
                                    h.max_hw_version);
        }
        if (ret)
                *ret = h;
        return 0;
}

int ota_image_validate(const uint8_t *buf, size_t len, OtaHeader *ret, char *err, size_t errlen) {
        OtaHeader h;
        size_t pos;
        int r;

        r = ota_header_parse(buf, len, &h, err, errlen);
        if (r < 0)
                return r;
        if (len < h.total_image_size)
                return fail(err, errlen, "truncated: the header says %u bytes (total image size), the file has %zu",
                            h.total_image_size, len);
        if (len > h.total_image_size)
                return fail(err, errlen, "size mismatch: the header says %u bytes (total image size), the file has %zu",
                            h.total_image_size, len);
        pos = h.header_length;
        h.n_elements = 0;
        while (pos < h.total_image_size) {
                uint16_t tag;
                uint32_t length;
                size_t meta = 6;

                if (h.total_image_size - pos < 6)
                        return fail(err, errlen, "truncated sub-element header at offset %zu", pos);
                tag = get16(buf + pos);
                length = get32(buf + pos + 2);
                if (tag == TAG_TELINK_AES)
                        meta = 8;
                if ((uint64_t) length + meta > h.total_image_size - pos)
                        return fail(err, errlen, "sub-element 0x%04x at offset %zu claims %u bytes, only %zu remain", tag,
                                    pos, length, h.total_image_size - pos - MIN(meta, h.total_image_size - pos));
                pos += meta + length;
                h.n_elements++;
        }
        if (h.n_elements == 0)
                return fail(err, errlen, "no sub-element (upgrade image) after the header");
        if (ret)
                *ret = h;
        return 0;
}

OtaImage *ota_image_free(OtaImage *img) {
        if (!img)
                return NULL;
        free(img->data);
        free(img->path);
        free(img);
        return NULL;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if (st.st_size > (off_t) OTA_IMAGE_MAX_SIZE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size + 1) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > (size_t) st.st_size)
                return -EFBIG;          /* grew while we read it */
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int ota_image_load(const char *path, OtaImage **ret, char *err, size_t errlen) {
        _cleanup_free_ uint8_t *buf = NULL;
        OtaImage *img;
        OtaHeader h;
        size_t len;
        long off;
        int r;

        r = read_file(path, &buf, &len);
        if (r == -EFBIG)
                return fail(err, errlen, "larger than %u bytes", OTA_IMAGE_MAX_SIZE), -EFBIG;
        if (r < 0) {
                if (err && errlen)
                        (void) snprintf(err, errlen, "cannot read it: %s", strerror(-r));
                return r;
        }
        off = ota_image_find_identifier(buf, len);
        if (off < 0)
                return fail(err, errlen, len == 0 ? "empty file" : "not an OTA file (no 0x0BEEF11E file identifier)");
        r = ota_image_validate(buf + off, len - (size_t) off, &h, err, errlen);
        if (r < 0)
                return r;
        img = calloc(1, sizeof(*img));
        if (!img)
                return -ENOMEM;
        img->header = h;
        img->size = h.total_image_size;
        img->data = malloc(img->size);
        img->path = strdup(path);
        if (!img->data || !img->path) {
                ota_image_free(img);
                return -ENOMEM;
        }
        memcpy(img->data, buf + off, img->size);
        *ret = img;
        return 0;
}

static int entry_compare(const void *a, const void *b) {
        return strcmp(((const OtaDirEntry *) a)->path, ((const OtaDirEntry *) b)->path);
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void scan_one(OtaDirEntry *e) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        long off;
        int r;

        r = read_file(e->path, &buf, &len);
        if (r < 0) {
                if (r != -EFBIG)
                        snprintf(e->error, sizeof(e->error), "cannot read it: %s", strerror(-r));
                else
                        snprintf(e->error, sizeof(e->error), "larger than %u bytes", OTA_IMAGE_MAX_SIZE);
                return;
        }
        off = ota_image_find_identifier(buf, len);
        if (off < 0) {
                snprintf(e->error, sizeof(e->error), "%s",
                         len == 0 ? "empty file" : "not an OTA file (no 0x0BEEF11E file identifier)");
                return;
        }
        /* manufacturer, type and version are worth knowing even for a refused file: the client
         * they were meant for is told why it gets nothing */
        if (len - (size_t) off >= 18) {
                const uint8_t *p = buf + off;
                e->header_known = true;
                e->header.manufacturer_code = get16(p + 10);
                e->header.image_type = get16(p + 12);
                e->header.file_version = get32(p + 14);
        }
        r = ota_image_validate(buf + off, len - (size_t) off, &e->header, e->error, sizeof(e->error));
        e->valid = r >= 0;
}

int ota_dir_scan(const char *dir, OtaDirIndex *ret) {
        OtaDirIndex idx = {};
        DIR *d;
        struct dirent *de;

        *ret = (OtaDirIndex) {};
        if (!dir)
                return -EINVAL;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        idx.entries = calloc(OTA_DIR_FILES_MAX, sizeof(OtaDirEntry));
        if (!idx.entries) {
                closedir(d);
                return -ENOMEM;
        }
        while ((de = readdir(d)) && idx.n < OTA_DIR_FILES_MAX) {
                OtaDirEntry *e;
                struct stat st;

                if (de->d_name[0] == '.' || ends_with(de->d_name, ".json"))
                        continue;
                e = &idx.entries[idx.n];
                if (asprintf(&e->path, "%s/%s", dir, de->d_name) < 0) {
                        e->path = NULL;
                        closedir(d);
                        ota_dir_index_done(&idx);
                        return -ENOMEM;
                }
                if (stat(e->path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(e->path);
                        e->path = NULL;
                        continue;
                }
                idx.n++;
        }
        closedir(d);
        qsort(idx.entries, idx.n, sizeof(OtaDirEntry), entry_compare);
        for (size_t i = 0; i < idx.n; i++)
                scan_one(&idx.entries[i]);
        *ret = idx;
        return 0;
}

void ota_dir_index_done(OtaDirIndex *idx) {
        if (!idx)
                return;
        for (size_t i = 0; i < idx->n; i++)
                free(idx->entries[i].path);
        free(idx->entries);
        *idx = (OtaDirIndex) {};
}

bool ota_header_matches(const OtaHeader *h, const OtaQuery *q, uint64_t ieee) {
        if (h->manufacturer_code != q->manufacturer_code || h->image_type != q->image_type)
                return false;
        /* a client that does not say its hardware version gets no image limited to some (herdsman) */
        if ((h->field_control & OTA_FC_HARDWARE_VERSIONS) &&
            (!q->has_hw_version || q->hw_version < h->min_hw_version || q->hw_version > h->max_hw_version))
                return false;
        if ((h->field_control & OTA_FC_DEVICE_SPECIFIC) && h->destination != ieee)
                return false;
        return true;
}

const OtaDirEntry *ota_dir_best(const OtaDirIndex *idx, const OtaQuery *q, uint64_t ieee) {
        const OtaDirEntry *best = NULL;

        for (size_t i = 0; i < idx->n; i++) {
                const OtaDirEntry *e = &idx->entries[i];

                if (e->valid && ota_header_matches(&e->header, q, ieee) &&
                    (!best || e->header.file_version > best->header.file_version))
                        best = e;
        }
        return best;
}

static const char *base_name(const char *path) {
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

void ota_dir_describe_rejects(const OtaDirIndex *idx, const OtaQuery *q, char *buf, size_t size) {
        size_t o = 0;

        if (size == 0)
                return;
        buf[0] = 0;
        for (size_t i = 0; i < idx->n && o + 1 < size; i++) {
                const OtaDirEntry *e = &idx->entries[i];
                int k;

                if (e->valid) {
                        if (e->header.manufacturer_code != q->manufacturer_code || e->header.image_type != q->image_type)
                                continue;       /* meant for another product */
                        if (ota_header_matches(&e->header, q, 0) || !(e->header.field_control & OTA_FC_HARDWARE_VERSIONS))
                                continue;       /* offered (or meant for one device only) */
                        k = snprintf(buf + o, size - o, "%s'%s': for hardware versions %u..%u", o ? "; " : "",
                                     base_name(e->path), e->header.min_hw_version, e->header.max_hw_version);
                } else if (e->header_known && (e->header.manufacturer_code != q->manufacturer_code ||
                                               e->header.image_type != q->image_type))
                        continue;               /* a broken file for another product */
                else
                        k = snprintf(buf + o, size - o, "%s'%s': %s", o ? "; " : "", base_name(e->path), e->error);
                if (k < 0)
                        break;
                o += (size_t) k;
                if (o >= size)
                        o = size - 1;
        }
}
