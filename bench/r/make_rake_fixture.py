"""Writes the raking fixture of tests/data/rake (data and targets), then runs rake_fixture.R on it for R's weights."""

import json
import pathlib
import subprocess

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "rake"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261123)
    n = 400
    # Unequal category frequencies and starting weights, so that raking has
    # real work to do and needs several passes.
    district = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    age = rng.choice(3, size=n, p=[0.2, 0.5, 0.3])
    sex = np.where(rng.random(n) < 0.35 + 0.1 * age, 1, 0)
    w0 = np.round(rng.uniform(0.5, 3.0, size=n), 3)
    total = float(w0.sum())
    targets = {
        "district": [0.25 * total, 0.25 * total, 0.3 * total, 0.2 * total],
        "age": [0.3 * total, 0.45 * total, 0.25 * total],
        "sex": [0.5 * total, 0.5 * total],
    }
    with open(OUT / "data.csv", "w") as fh:
        fh.write("district,age,sex,w0\n")
        for d, a, s, w in zip(district, age, sex, w0, strict=True):
            fh.write(f"{d},{a},{s},{w:.3f}\n")
    (OUT / "targets.json").write_text(json.dumps(targets, indent=1) + "\n")
    subprocess.run(["Rscript", str(pathlib.Path(__file__).with_name("rake_fixture.R")), str(OUT)], check=True)


if __name__ == "__main__":
    main()
