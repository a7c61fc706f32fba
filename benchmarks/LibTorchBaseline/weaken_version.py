"""Mark one version requirement of an ELF64 shared library as weak (VER_FLG_WEAK),
so the loader does not refuse it when the system library lacks that version node.
Usage: weaken_version.py FILE VERSION_NAME"""
import struct, sys
path, want = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, "rb").read())
assert data[:4] == b"\x7fELF" and data[4] == 2
e_shoff, = struct.unpack_from("<Q", data, 0x28)
e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
def sh(i):
    return struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
SHT_GNU_verneed = 0x6ffffffe
patched = 0
for i in range(e_shnum):
    s = sh(i)
    if s[1] != SHT_GNU_verneed:
        continue
    off, link = s[4], s[6]
    stroff = sh(link)[4]
    def name(o):
        end = data.index(0, stroff + o)
        return bytes(data[stroff + o:end])
    p = off
    while True:
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, p)
        a = p + vn_aux
        for _ in range(vn_cnt):
            vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from("<IHHII", data, a)
            if name(vna_name) == want:
                struct.pack_into("<H", data, a + 4, vna_flags | 0x2)
                patched += 1
            if vna_next == 0:
                break
            a += vna_next
        if vn_next == 0:
            break
        p += vn_next
if patched == 0:
    sys.exit("version %s not required by %s" % (want.decode(), path))
open(path, "wb").write(data)
print("weakened %d requirement(s) of %s in %s" % (patched, want.decode(), path))
