/*
 * Zigbee OTA upgrade files (ZCL spec 11.4, "OTA Upgrade File Format"): the header parser and
 * validator, a loaded image, and the index of the image directory ([ota] directory).
 *
 * A file is accepted only when everything adds up: the 0x0BEEF11E identifier (a vendor prefix
 * before it is skipped, as zigbee-herdsman does), header version 0x0100, a header length that
 * covers the fixed fields and the optional ones the field control announces, no unknown field
 * control bits, a total image size equal to the bytes from the identifier to the end of the file,
 * and sub-elements (tag, length) that fill the rest exactly. Every refusal comes with a sentence
 * that names what was wrong. Pure: no logging; the directory scan only reads files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OTA_FILE_IDENTIFIER     0x0BEEF11Eu
#define OTA_HEADER_VERSION      0x0100u
#define OTA_HEADER_FIXED_SIZE   56u             /* up to and including total image size */
#define OTA_IMAGE_MAX_SIZE      (16u * 1024 * 1024)     /* refuse anything larger */
#define OTA_ERROR_MAX           256u

/* Field control bits */
#define OTA_FC_SECURITY_CREDENTIAL      0x0001u
#define OTA_FC_DEVICE_SPECIFIC          0x0002u
#define OTA_FC_HARDWARE_VERSIONS        0x0004u

typedef struct OtaHeader {
        uint16_t header_version;
        uint16_t header_length;
        uint16_t field_control;
        uint16_t manufacturer_code;
        uint16_t image_type;
        uint32_t file_version;
        uint16_t stack_version;
        char header_string[33];                 /* 32 bytes, NUL-terminated, non-printables as '.' */
        uint32_t total_image_size;
        uint8_t security_credential_version;    /* with OTA_FC_SECURITY_CREDENTIAL */
        uint64_t destination;                   /* with OTA_FC_DEVICE_SPECIFIC */
        uint16_t min_hw_version, max_hw_version;/* with OTA_FC_HARDWARE_VERSIONS */
        size_t n_elements;                      /* sub-elements found (ota_image_validate) */
} OtaHeader;

/* Offset of the file identifier in buf (0 for a plain OTA file), or -ENOENT. */
long ota_image_find_identifier(const uint8_t *buf, size_t len);

/* Parses the header at buf (which starts with the identifier). Checks what the header alone can
 * tell. 0 or -EBADMSG with err (may be NULL) saying why. */
int ota_header_parse(const uint8_t *buf, size_t len, OtaHeader *ret, char *err, size_t errlen);

/* The whole image: header, total size against len, sub-elements. buf starts with the identifier
 * and len is everything up to the end of the file. */
int ota_image_validate(const uint8_t *buf, size_t len, OtaHeader *ret, char *err, size_t errlen);

typedef struct OtaImage {
        OtaHeader header;
        uint8_t *data;                  /* total_image_size bytes from the identifier */
        size_t size;
        char *path;
} OtaImage;

/* Reads and validates a file. -EBADMSG (err says why), -EFBIG, or the errno of the read. */
int ota_image_load(const char *path, OtaImage **ret, char *err, size_t errlen);
OtaImage *ota_image_free(OtaImage *img);

/* One file of the directory and what it is. */
typedef struct OtaDirEntry {
        char *path;
        bool valid;
        bool header_known;              /* manufacturer/type/version readable even if invalid */
        OtaHeader header;
        char error[OTA_ERROR_MAX];
} OtaDirEntry;

typedef struct OtaDirIndex {
        OtaDirEntry *entries;
        size_t n;
} OtaDirIndex;

#define OTA_DIR_FILES_MAX 256u

/* Lists the regular files of dir (hidden files and *.json skipped, at most OTA_DIR_FILES_MAX,
 * sorted by name) and validates each. A missing directory gives an empty index. */
int ota_dir_scan(const char *dir, OtaDirIndex *ret);
void ota_dir_index_done(OtaDirIndex *idx);

/* What a client asked for in Query Next Image Request. */
typedef struct OtaQuery {
        uint16_t manufacturer_code;
        uint16_t image_type;
        uint32_t file_version;
        bool has_hw_version;
        uint16_t hw_version;
} OtaQuery;

/* Whether a valid image suits the client: same manufacturer and image type, the hardware range
 * (if any) includes its hardware version (a client that sends none gets no such image, as in
 * zigbee-herdsman), and the destination (if any) is its address. */
bool ota_header_matches(const OtaHeader *h, const OtaQuery *q, uint64_t ieee);

/* The valid entry with the highest file version that suits the client (any version: compare with
 * q->file_version to know whether it is newer), or NULL. */
const OtaDirEntry *ota_dir_best(const OtaDirIndex *idx, const OtaQuery *q, uint64_t ieee);

/* A sentence about the entries that could not be offered to this client (bad files, and files
 * for its manufacturer and image type that are refused), "" when none. */
void ota_dir_describe_rejects(const OtaDirIndex *idx, const OtaQuery *q, char *buf, size_t size);
