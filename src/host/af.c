/*
 * AF_INCOMING_MSG with its trailer, on top of af_parse_incoming(). See af.h.
 */
#include <errno.h>

#include "host/af.h"
#include "znp/af.h"

int host_af_parse_incoming(const uint8_t *d, size_t n, HostAfIncoming *ret) {
        AfMessage m;
        MtFrame f;
        size_t used;

        if (!d || !ret)
                return -EINVAL;
        if (n > MT_DATA_MAX || mt_frame_init(&f, MT_AREQ, MT_SUBSYS_AF, 0x81, d, n) < 0)
                return -EBADMSG;
        if (af_parse_incoming(&f, &m) < 0)
                return -EBADMSG;

        used = (size_t) (m.data - f.data) + m.len;
        *ret = (HostAfIncoming) {
                .group = m.group,
                .cluster = m.cluster,
                .src_addr = m.src_addr,
                .src_endpoint = m.src_endpoint,
                .dst_endpoint = m.dst_endpoint,
                .broadcast = m.was_broadcast,
                .lqi = m.link_quality,
                .secured = m.secure,
                .timestamp = m.timestamp,
                .trans_seq = m.trans_seq,
                .data = d + (m.data - f.data),
                .len = (uint8_t) m.len,
        };
        if (n >= used + 3) {
                ret->has_trailer = true;
                ret->mac_src_addr = (uint16_t) (d[used] | (d[used + 1] << 8));
                ret->radius = d[used + 2];
        }
        return 0;
}
