"""Build step: compile a .py file and write its marshalled code object as a C header.

Run by the interpreter pylaunchd embeds, so the marshal format matches; the header records
that interpreter's version and launcher/module.c refuses to compile against another one.
Unmarshalling costs about 25 us at start-up where compiling the source costs about 1.5 ms.
"""
import marshal
import sys


def main(src: str, out: str, name: str, filename: str) -> None:
    with open(src, encoding="utf-8") as f:
        code = compile(f.read(), filename, "exec", dont_inherit=True, optimize=0)
    data = marshal.dumps(code)
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    text = (
        f"/* Generated from {src} by cmake/embed_code.py; do not edit. */\n"
        f"#define {name.upper()}_HEXVERSION 0x{sys.hexversion:08x}\n"
        f"static const unsigned char {name}[] = {{\n" + ",\n".join(rows) + "\n};\n"
    )
    try:
        with open(out, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main(*sys.argv[1:5])
