#!/usr/bin/python3
"""PIL as an independent reference for g4's image code, run by the unit tests.

Raw RGB files are 8-bit, rows top to bottom, no header; sizes travel on the command line.

  pil_oracle.py resize IN.rgb W H OUT_W OUT_H OUT.rgb   Image.resize(BICUBIC)
  pil_oracle.py decode IMAGE OUT.rgb                    Image.open(...).convert("RGB") with
                                                        EXIF orientation applied; prints "W H"
  pil_oracle.py encode IN.rgb W H FORMAT OUT [OPTION]  writes IN as FORMAT (JPEG, WEBP, GIF,
                                                        BMP, PNG); OPTION: "orientation=N"
                                                        (JPEG), "lossless" or "lossy" (WEBP)
"""
import sys

from PIL import Image, ImageOps


def load_raw(path, width, height):
    with open(path, "rb") as f:
        return Image.frombytes("RGB", (width, height), f.read())


def main(argv):
    command = argv[1]
    if command == "resize":
        image = load_raw(argv[2], int(argv[3]), int(argv[4]))
        out = image.resize((int(argv[5]), int(argv[6])), Image.Resampling.BICUBIC)
        with open(argv[7], "wb") as f:
            f.write(out.tobytes())
    elif command == "decode":
        with Image.open(argv[2]) as image:
            image.seek(0)
            upright = ImageOps.exif_transpose(image).convert("RGB")
        with open(argv[3], "wb") as f:
            f.write(upright.tobytes())
        print(upright.width, upright.height)
    elif command == "encode":
        image = load_raw(argv[2], int(argv[3]), int(argv[4]))
        fmt, out = argv[5], argv[6]
        option = argv[7] if len(argv) > 7 else ""
        if fmt == "JPEG":
            exif = Image.Exif()
            if option.startswith("orientation="):
                exif[0x0112] = int(option.split("=")[1])
            image.save(out, "JPEG", quality=95, exif=exif.tobytes())
        elif fmt == "WEBP":
            image.save(out, "WEBP", lossless=(option == "lossless"), quality=90)
        elif fmt == "GIF":
            # A second frame proves that only the first one is decoded.
            second = Image.new("RGB", image.size, (255, 0, 255))
            image.save(out, "GIF", save_all=True, append_images=[second])
        else:
            image.save(out, fmt)
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
