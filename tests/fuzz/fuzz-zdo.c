/*
 * Fuzz target: the ZDO answers an interview reads (src/host/interview.h): ZDO_NODE_DESC_RSP,
 * ZDO_ACTIVE_EP_RSP and ZDO_SIMPLE_DESC_RSP, each given every input as its MT DATA. Counts must
 * stay within the INTERVIEW_*_MAX bounds whatever the device claims.
 */
#include <errno.h>

#include "fuzz.h"
#include "host/interview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t eps[INTERVIEW_ENDPOINTS_MAX], n_eps = 0, status = 0;
        SimpleDescriptor sd;
        NodeDescriptor nd;
        uint16_t src = 0;
        int r;

        r = zdo_parse_node_desc_rsp(data, size, &src, &status, &nd);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || (r == -EREMOTEIO && status != 0));

        r = zdo_parse_active_ep_rsp(data, size, &src, &status, eps, &n_eps);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || (r == -EREMOTEIO && status != 0));
        if (r == 0)
                FUZZ_CHECK(n_eps <= INTERVIEW_ENDPOINTS_MAX);

        r = zdo_parse_simple_desc_rsp(data, size, &src, &status, &sd);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || (r == -EREMOTEIO && status != 0));
        if (r == 0)
                FUZZ_CHECK(sd.n_in <= INTERVIEW_CLUSTERS_MAX && sd.n_out <= INTERVIEW_CLUSTERS_MAX);
        return 0;
}
