#!/bin/sh
# The daemon loads only the libraries it is built on (README "Dependencies"): every other shared
# library costs resident memory in every instance (libm alone ~300 KiB, tests/bench/REPORT.md).
# A call to round(), ceil() or floor() links libm back in: use util/round.h.
#   check-needed.sh BINARY
set -eu
bin=$1
allowed="libsystemd.so.0 libmosquitto.so.1 libjson-c.so.5 libserialport.so.0 libinih.so.1 libc.so.6"
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "FAIL: readelf found no NEEDED entries in $bin"; exit 1; }
bad=0
for lib in $needed; do
        case " $allowed " in
        *" $lib "*) ;;
        *)
                case "$lib" in
                libasan.so.*|libubsan.so.*|libstdc++.so.*|libgcc_s.so.*|libm.so.6)
                        # sanitizer runtimes bring their own, and pull libm in with them
                        if readelf -d "$bin" | grep -q 'NEEDED.*lib[a-z]*san\.so'; then continue; fi ;;
                esac
                echo "FAIL: $bin needs $lib, which is not one of: $allowed"
                bad=1 ;;
        esac
done
[ $bad -eq 0 ] && echo "ok: $(echo $needed | tr ' ' ',')"
exit $bad
