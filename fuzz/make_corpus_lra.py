#!/usr/bin/env python3
"""Writes the seed corpora of the LRA loader targets: fuzz/corpus/{listops,text,retrieval,cifar,
pathfinder,png}/, small valid inputs of each format (fuzz/fuzz_<name>.cpp says what an input is).
Standard library only; deterministic, so re-running it rewrites the same files.

    python3 fuzz/make_corpus_lra.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
BOM = b"\xef\xbb\xbf"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def listops():
    h = b"Source\tTarget\n"
    write("listops", "basic.tsv", h + b"( ( ( [MAX 2 ) 9 ) ] )\t9\n( ( ( [SM 5 ) 6 ) 7 ) ] )\t8\n")
    write("listops", "nested.tsv", h + b"( ( [MIN 4 ( ( [MED 1 ) 7 ) 3 ] ) ) 0 ] )\t0\r\n\n3\t3\n")
    write("listops", "bom.tsv", BOM + h + b"( ( ( [MED 1 ) 2 ) 3 ) 4 ) ] )\t2\n")


def text():
    # byte 0: n_val; then reviews separated by 0xFF, round-robin into train/neg, train/pos, test/neg, test/pos
    write("text", "four.bin", b"\x01" + b"\xff".join([b"bad film", b"great film", b"no", b"Loved it\xc3\xa9"]))
    reviews = [b"review %d %s" % (i, b"good" if i % 2 else b"bad") for i in range(12)]
    write("text", "twelve.bin", b"\x03" + b"\xff".join(reviews))
    write("text", "bom.bin", b"\x00" + b"\xff".join([BOM + b"a", b"b", BOM + b"c", b"d"]))


def retrieval():
    write("retrieval", "pairs.tsv", b"1.0\ta\tb\tfirst text\tsecond\n0\tc\td\tx y\tz\n")
    write("retrieval", "one.tsv", b"1\tg\th\tq\tr\r\n")
    write("retrieval", "bom.tsv", BOM + b"0.0\te\tf\tabc\tdef\n")


def cifar():
    def record(label, r, g, b):
        return bytes([label]) + bytes([r]) * 1024 + bytes([g]) * 1024 + bytes([b]) * 1024
    write("cifar", "one.bin", record(3, 255, 0, 0))
    write("cifar", "two.bin", record(1, 10, 20, 30) + record(9, 100, 150, 200))


def pathfinder():
    # the metadata file of fuzz_pathfinder's scratch folder (its images are named there)
    lines = [b"imgs/0 sample_%d.png 0 %d 14 1.5\n" % (i, i % 2) for i in range(4)]
    write("pathfinder", "four.npy", b"".join(lines))
    write("pathfinder", "mixed.npy", b"imgs/0 sample_0.png 0 1\nimgs/0 empty.png 0 0\n\nimgs/alias sample_2.png 0 1\n"
          b"imgs/0 sample_1.png 0 0\nimgs/0 sample_3.png 0 1\n")
    write("pathfinder", "bom.npy", BOM + b"imgs/0 sample_1.png 0 0\nimgs/0 sample_2.png 0 1\n")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, color, depth, rows, palette=None, interlace=0):
    """rows: a function (x, y) -> the bytes of one pixel."""
    raw = b""
    if interlace:
        # Adam7: seven passes (x0, y0, dx, dy), each a sub-image with its own filter bytes
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                               (0, 1, 1, 2)]:
            xs = list(range(x0, width, dx))
            for y in range(y0, height, dy):
                if xs:
                    raw += b"\x00" + b"".join(rows(x, y) for x in xs)
    else:
        for y in range(height):
            raw += b"\x00" + b"".join(rows(x, y) for x in range(width))
    return png_raw(width, height, color, depth, raw, palette, interlace)


def png_raw(width, height, color, depth, raw, palette=None, interlace=0):
    """raw: the filtered scanlines (each a filter byte, then the packed pixels)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if palette:
        out += png_chunk(b"PLTE", palette)
    return out + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


def pngs():
    g = lambda x, y: bytes([(x * 7 + y * 3) % 256])
    write("png", "gray32.png", png(32, 32, 0, 8, g))
    write("png", "gray8_interlaced.png", png(8, 8, 0, 8, g, interlace=1))
    write("png", "gray16.png", png(8, 8, 0, 16, lambda x, y: struct.pack(">H", x * 4000 + y)))
    write("png", "gray_alpha.png", png(8, 8, 4, 8, lambda x, y: bytes([x * 30, 255 - y])))
    write("png", "rgb.png", png(8, 8, 2, 8, lambda x, y: bytes([x * 30, y * 30, 128])))
    write("png", "rgba_interlaced.png", png(9, 7, 6, 8, lambda x, y: bytes([x, y, x ^ y, 200]), interlace=1))
    write("png", "palette.png", png(8, 8, 3, 8, lambda x, y: bytes([(x + y) % 4]),
                                    palette=bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])))
    write("png", "gray1bit.png", png_raw(16, 4, 0, 1, b"\x00\xa5\x5a" * 4))  # 1 bit per pixel, 2 bytes a row


if __name__ == "__main__":
    listops()
    text()
    retrieval()
    cifar()
    pathfinder()
    pngs()
