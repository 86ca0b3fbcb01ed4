"""Generate a realistic legacy card CSV, as the old card system exports it.

    python bench/make_legacy_csv.py --rows 1000 --out members/fixtures/legacy_cards_sample.csv \
        --bad-rows 12
    python bench/make_legacy_csv.py --rows 1000000 --out /tmp/legacy.csv --encoding gb18030

The first rows carry the sandbox's demo phones (13800138000, 13900139000, 13700137000), so that
logging in with phone code ``phone-13800138000`` takes over a card. Card numbers are 12 digits
starting with 66 and phones are unique, so the file imports cleanly apart from the ``--bad-rows``
rows, one of each reject reason in turn. The same arguments always give the same file.
"""

import argparse
import csv
import datetime
import random

HEADER = ["card_no", "phone", "name", "gender", "birth_date", "level", "points"]
DEMO_PHONES = ["13800138000", "13900139000", "13700137000"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆"
LEVELS = ["regular"] * 6 + ["silver"] * 3 + ["gold"] * 2 + ["platinum"]
GENDERS = ["M", "F", "男", "女", "M", "F", ""]
PHONE_PREFIXES = ["15", "18", "17"]
# Each kind of bad row, in turn: (column, value); "dup-phone" repeats an earlier row's phone.
BAD_ROWS = [
    ("phone", "12345"),
    ("gender", "X"),
    ("birth_date", "2023-02-30"),
    ("card_no", "1234"),
    ("phone", "dup-phone"),
    ("birth_date", "2099-01-01"),
    ("points", "-5"),
    ("birth_date", "1990/01/01"),
    ("card_no", "66ABC0000001"),
    ("phone", "23800138000"),
]
_EPOCH = datetime.date(1950, 1, 1)


def card_number(n: int) -> str:
    return f"66{n:010d}"


def phone_number(n: int) -> str:
    # 7919 is prime to 10**9, so n → n*7919 mod 10**9 never repeats: phones are unique.
    return PHONE_PREFIXES[n % 3] + f"{(n * 7919 + 12345) % 10**9:09d}"


def rows(count: int, bad_rows: int, seed: int):
    rng = random.Random(seed)
    bad_at = set(rng.sample(range(len(DEMO_PHONES), count), min(bad_rows, count)))
    bad_kind = 0
    for n in range(1, count + 1):
        birth = _EPOCH + datetime.timedelta(days=rng.randrange(20000))
        date_text = birth.isoformat() if rng.random() < 0.7 else birth.strftime("%Y%m%d")
        row = {
            "card_no": card_number(n),
            "phone": DEMO_PHONES[n - 1] if n <= len(DEMO_PHONES) else phone_number(n),
            "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
            "gender": rng.choice(GENDERS),
            "birth_date": date_text if rng.random() < 0.95 else "",
            "level": rng.choice(LEVELS),
            "points": str(rng.randrange(0, 50000)),
        }
        if n - 1 in bad_at:
            column, value = BAD_ROWS[bad_kind % len(BAD_ROWS)]
            bad_kind += 1
            row[column] = phone_number(n - 1) if value == "dup-phone" else value
        yield [row[column] for column in HEADER]


def write(path: str, count: int, *, encoding: str = "utf-8", bad_rows: int = 0, seed: int = 7):
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows(count, bad_rows, seed))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--out", required=True)
    parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "utf-8-sig", "gb18030"])
    parser.add_argument("--bad-rows", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    write(args.out, args.rows, encoding=args.encoding, bad_rows=args.bad_rows, seed=args.seed)


if __name__ == "__main__":
    main()
