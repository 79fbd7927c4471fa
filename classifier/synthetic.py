"""Synthetic rows with the seed's columns, the same for a given seed and count."""

import random

COLUMNS = ("ID", "SKU", "FLUX", "MANUFACTURER_NAME", "DESCRIPTION")
HEADER = (",".join(COLUMNS) + "\n").encode()

MANUFACTURERS = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Cyberdyne",
    "Soylent",
    "Tyrell",
    "Wonka",
    "Vandelay",
)
WORDS = (
    "flux",
    "capacitor",
    "widget",
    "sprocket",
    "gear",
    "bolt",
    "lens",
    "valve",
    "sensor",
    "coil",
    "matte",
    "steel",
    "copper",
    "large",
    "small",
    "blue",
    "red",
    "industrial",
    "spare",
    "assembly",
    "kit",
    "pack",
    "unit",
    "module",
)


def _description(rng: random.Random) -> str:
    words = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
    shape = rng.random()
    if shape < 0.05:
        return f'"{words}, ""special"" edition"'
    if shape < 0.15:
        return f'"{words}, assorted"'
    return words


def rows(count: int, seed: int):
    """CSV lines (bytes, newline-terminated) for rows 1..count, without the header."""
    rng = random.Random(seed)
    for number in range(1, count + 1):
        yield (
            f"{number},SKU-{rng.randrange(10**8):08d},{rng.uniform(-1000, 1000):.6f},"
            f"{rng.choice(MANUFACTURERS)},{_description(rng)}\n"
        ).encode()


def chunks(count: int, seed: int, rows_per_chunk: int):
    """The header, then the rows joined ``rows_per_chunk`` at a time."""
    yield HEADER
    batch = []
    for line in rows(count, seed):
        batch.append(line)
        if len(batch) == rows_per_chunk:
            yield b"".join(batch)
            batch = []
    if batch:
        yield b"".join(batch)
