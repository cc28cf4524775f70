"""The command line's streamed reading of a bundle (analysis/_stream.py) against the document path.

For a valid bundle the streamed path must give the very arrays and results of
``evaluate_document(loads_bundle(text))`` (same seed: the same pingyi-results/1
text, hence the same ``results_sha256``); for anything else, the same refusal.
"""

import hashlib
import json
import random
import subprocess
import sys

import numpy as np
import pytest
from analysis_testkit import CONFORMANCE, INVALID_CASES, VALID_CASES, case_bytes

import analysis._parse as parse_module
import analysis._stream as stream_module
from analysis import BundleError, evaluate_document, from_document, loads_bundle
from analysis.__main__ import main
from analysis._campaign import network_of
from analysis._checks import parse_instant_us, parse_instants_us
from analysis._stream import read_campaign
from analysis.evaluate import evaluate

ROOT = CONFORMANCE.parents[2]


def generated_bundle(seed: int, n: int = 400) -> dict:
    """A bundle with every kind of per-ballot field: sources (IPv4, IPv6, mapped, not an
    address), duplicate answers on open batches, attributes with margins, blank
    ballots, objective scores, vetoes, trimming, and the rules after the ballots."""
    rng = random.Random(seed)
    units = [f"u{k}" for k in range(9)]
    items = [("overall", 2.0), ("service", 1.0), ("conduct", 0.5)]
    groups = [("g1", 0.5), ("g2", 0.3), ("g3", 0.2)]
    batches = [
        {"code": "g1-paper", "group": "g1", "channel": "paper", "issued": n},
        {"code": "g1-web", "group": "g1", "channel": "online"},
        {"code": "g2-paper", "group": "g2", "channel": "paper", "issued": n},
        {"code": "g3-qr", "group": "g3", "channel": "qr"},
        {"code": "g3-public", "group": "g3", "channel": "public", "issued": None},
    ]
    sources = ["10.0.0.7", "10.0.0.9", " 192.168.4.1 ", "2001:db8::5", "2001:db8::6", "::ffff:10.0.0.8",
               "01.2.3.4", "unknown", "172.16.254.1", "10.0.1.7"]
    ballots = []
    previous = None
    for r in range(n):
        batch = rng.choice(batches)["code"]
        if previous is not None and rng.random() < 0.05:
            answers = json.loads(json.dumps(previous))  # a repeated form, keys reordered below
            answers = dict(reversed(list(answers.items())))
        else:
            answers = {}
            for u in rng.sample(units, rng.randint(0, 5)):
                answers[u] = {it: rng.choice("SSSBBDU") for it, _ in rng.sample(items, rng.randint(1, 3))}
        previous = answers
        b = {"id": f"{rng.getrandbits(40):010x}-{r}", "batch": batch,
             "submitted_at": f"2026-11-{2 + r % 5:02d}T{8 + r % 10:02d}:{r % 60:02d}:{(r * 7) % 60:02d}"
                             + rng.choice(["+08:00", "Z", "", ".250+08:00"])}
        if rng.random() < 0.8:
            b["duration_s"] = rng.choice([rng.randint(5, 900), round(rng.uniform(1, 600), 2)])
        if rng.random() < 0.6:
            b["source"] = rng.choice(sources)
        if rng.random() < 0.7:
            b["attributes"] = {"age": rng.choice(["<35", "35-50", ">50", None]),
                               **({"years": rng.choice([1, 2, 2.5, "2"])} if rng.random() < 0.5 else {})}
        b["answers"] = answers
        ballots.append(b)
    return {
        "format": "pingyi-campaign/1",
        "campaign": {"code": f"gen{seed}", "name": "生成的评议", "anonymous": True},
        "scale": [{"code": "S", "label": "满意", "points": 100}, {"code": "B", "label": "基本满意", "points": 70},
                  {"code": "D", "label": "不满意", "points": 0}, {"code": "U", "label": "不了解", "points": None}],
        "items": [{"code": c, "label": c, "weight": w} for c, w in items],
        "categories": [{"code": "a", "label": "甲"}, {"code": "b", "label": "乙"}],
        "units": [{"code": u, "name": f"单位{u}", "category": "ab"[k % 2]} for k, u in enumerate(units)],
        "groups": [{"code": g, "label": g, "weight": w} for g, w in groups],
        "margins": {"g2": {"age": {"<35": 0.3, "35-50": 0.4, ">50": 0.3}}},
        "batches": batches,
        "ballots": ballots,
        "objective_scores": [{"unit": u, "component": "work", "score": 60 + 4 * k} for k, u in enumerate(units[:-1])],
        "vetoes": [{"unit": units[3], "reason": "一票否决"}],
        "rules": {"trim_per_end": 0.1, "bootstrap": {"replicates": 40, "seed": seed},
                  "ballot_share": 0.6, "objective_components": {"work": 0.4}, "bottom": {"n": 2, "below": 80}},
    }


def _text(doc: dict, indent: int | None = None) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=indent).encode("utf-8")


def _results_text(results) -> str:
    # As the platform stores and hashes the results (survey/results/snapshots.py canonical_json).
    return json.dumps(results.to_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _same_campaign(a, b) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        elif name in ("margins", "attributes"):
            assert len(x) == len(y), name
            for m, n in zip(x, y, strict=True):
                for f in m.__dataclass_fields__:
                    mv, nv = getattr(m, f), getattr(n, f)
                    assert np.array_equal(mv, nv) if isinstance(mv, np.ndarray) else mv == nv, (name, f)
        else:
            assert x == y, name


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("indent", [None, 1])
def test_streamed_bundle_gives_the_document_paths_results(seed, indent, monkeypatch):
    text = _text(generated_bundle(seed), indent)
    want_campaign = from_document(loads_bundle(text), validated=True)
    want = _results_text(evaluate_document(loads_bundle(text)))
    monkeypatch.setattr(parse_module, "loads_bundle", lambda t: pytest.fail("fell back to loads_bundle"))
    got_campaign = read_campaign(text, min_bytes=0)
    _same_campaign(got_campaign, want_campaign)
    got = _results_text(evaluate(got_campaign))
    assert hashlib.sha256(got.encode()).hexdigest() == hashlib.sha256(want.encode()).hexdigest()
    assert got == want
    # The generated bundles exercise what the streamed path converts.
    assert (got_campaign.network >= 0).any() and (got_campaign.network == -1).any()
    assert len(np.unique(got_campaign.answer_key)) < got_campaign.n_ballots
    assert got_campaign.margins and got_campaign.attributes


@pytest.mark.parametrize("name", VALID_CASES)
def test_conformance_cases_streamed(name, monkeypatch):
    text = case_bytes(name)
    want = _results_text(evaluate_document(loads_bundle(text)))
    monkeypatch.setattr(parse_module, "loads_bundle", lambda t: pytest.fail("fell back to loads_bundle"))
    assert _results_text(evaluate(read_campaign(text, min_bytes=0))) == want


def test_override_applies_on_the_streamed_path(monkeypatch):
    text = _text(generated_bundle(4))
    override = {"trim_per_end": 0.0, "bootstrap": {"replicates": 10}}
    want = _results_text(evaluate_document(loads_bundle(text), override))
    assert want != _results_text(evaluate_document(loads_bundle(text)))
    monkeypatch.setattr(parse_module, "loads_bundle", lambda t: pytest.fail("fell back to loads_bundle"))
    assert _results_text(evaluate(read_campaign(text, override, min_bytes=0))) == want
    # A refused override is refused alike.
    with pytest.raises(BundleError) as info:
        read_campaign(text, {"trim_per_end": 0.7}, min_bytes=0)
    assert [p.path for p in info.value.problems] == ["rules.trim_per_end"]


def test_sections_after_the_ballots_read_whole_to_the_same_results():
    doc = generated_bundle(8, n=80)
    reordered = {k: v for k, v in doc.items() if k != "units"} | {"units": doc["units"]}
    text = _text(reordered)
    assert _results_text(evaluate(read_campaign(text, min_bytes=0))) == _results_text(evaluate_document(doc))


def test_ballots_the_plain_reading_doubts_are_read_again_to_the_same_campaign(monkeypatch):
    doc = generated_bundle(9, n=120)
    doc["ballots"][4]["attributes"] = {"age": "<35", "nested": {"a": [1, 2.5, None]}}
    doc["ballots"][5]["source"] = 'a "quoted": source'  # a key's end inside a string value
    doc["ballots"][6]["attributes"] = {"age": ">50", "note": '"x" : "y"'}
    doc["ballots"][7]["source"] = "[{not an address}]"  # brackets inside a string
    text = _text(doc, 1)
    want = from_document(loads_bundle(text), validated=True)
    monkeypatch.setattr(parse_module, "loads_bundle", lambda t: pytest.fail("fell back to loads_bundle"))
    _same_campaign(read_campaign(text, min_bytes=0), want)


def test_answer_keys_equal_exactly_where_the_answers_are_equal_as_json():
    doc = generated_bundle(10, n=8)
    same = {"u1": {"overall": "S", "service": "B"}, "u2": {"conduct": "D"}}
    reordered = {"u2": {"conduct": "D"}, "u1": {"service": "B", "overall": "S"}}
    for b, answers in zip(doc["ballots"], [same, reordered, {}, {"u3": {}}, {"u3": {}}, {"u1": {"overall": "B"}},
                                           {"u1": {"service": "S"}}, same], strict=True):
        b.update(batch="g3-public", source="10.9.9.9", answers=answers)
    key = from_document(loads_bundle(_text(doc)), validated=True).answer_key
    assert key[0] == key[1] == key[7]
    assert key[3] == key[4]
    assert len({key[0], key[2], key[3], key[5], key[6]}) == 5


def _reference_columns(doc: dict) -> tuple[np.ndarray, np.ndarray]:
    """The answers array and the duplicate keys, worked out the plain way (one ballot at a time)."""
    units = {u["code"]: k for k, u in enumerate(doc["units"])}
    items = {it["code"]: k for k, it in enumerate(doc["items"])}
    options = {o["code"]: k for k, o in enumerate(doc["scale"])}
    open_batch = {b["code"]: b.get("issued") is None for b in doc["batches"]}
    answers = np.full((len(doc["ballots"]), len(units), len(items)), -1, dtype=np.int8)
    keys = -1 - np.arange(len(doc["ballots"]), dtype=np.int64)
    seen: dict[str, int] = {}
    for r, b in enumerate(doc["ballots"]):
        for u, per_item in b["answers"].items():
            for it, o in per_item.items():
                answers[r, units[u], items[it]] = options[o]
        if b.get("source") is not None and open_batch[b["batch"]]:
            keys[r] = seen.setdefault(json.dumps(b["answers"], sort_keys=True), len(seen))
    return answers, keys


@pytest.mark.parametrize("seed", [11, 12])
def test_answers_and_duplicate_keys_are_the_plain_ones(seed):
    doc = generated_bundle(seed, n=700)
    for b in doc["ballots"][::7]:
        b.update(batch="g3-public", source="10.9.9.9")  # more compared ballots, some with the same answers
    want_answers, want_keys = _reference_columns(doc)
    text = _text(doc)
    for got in (from_document(loads_bundle(text), validated=True), read_campaign(text, min_bytes=0)):
        assert np.array_equal(got.answers, want_answers)
        assert np.array_equal(got.answer_key, want_keys)
    assert len(set(want_keys[want_keys >= 0])) < np.count_nonzero(want_keys >= 0)  # some equal answers


def test_times_parsed_at_once_are_those_parsed_one_by_one():
    rng = random.Random(4)
    good, bad = [], []
    for _ in range(20_000):
        y = rng.choice([1, 4, 100, 400, 1900, 1970, 2000, 2024, 2026, 9999, rng.randint(1, 9999)])
        value = (f"{y:04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}T{rng.randint(0, 24):02d}:"
                 f"{rng.randint(0, 60):02d}:{rng.randint(0, 60):02d}{rng.choice('+-')}{rng.randint(0, 24):02d}:"
                 f"{rng.randint(0, 60):02d}")
        try:
            good.append((value, parse_instant_us(value)))
        except ValueError:
            bad.append(value)
    others = ["2026-11-02T08:00:00", "2026-11-02 08:00:00+08:00", " 2026-11-02T08:00:00+08:00 ",
              "2026-11-02T08:00:00.5+08:00", "2026-11-02T08:00:00Z", "2026-11-02T08:00:00+0800"]
    values = [v for v, _ in good] + others
    want = [us for _, us in good] + [parse_instant_us(v) for v in others]
    assert parse_instants_us(values).tolist() == want
    assert len(good) > 10_000 and len(bad) > 1_000
    for value in bad[:300]:
        with pytest.raises(ValueError):
            parse_instants_us([good[0][0], value])
    with pytest.raises(ValueError):
        parse_instants_us([good[0][0], 20261102])


def _problems(fn):
    with pytest.raises(BundleError) as info:
        fn()
    return [p.to_json() for p in info.value.problems]


def _refusals():
    base = generated_bundle(5, n=60)
    yield "bad ballot", _text({**base, "ballots": [*base["ballots"][:7], {**base["ballots"][7], "batch": "nope"},
                                                   *base["ballots"][8:]]})
    dup_id = json.loads(_text(base))
    dup_id["ballots"][9]["id"] = dup_id["ballots"][2]["id"]
    yield "duplicate ballot id", _text(dup_id)
    over = json.loads(_text(base))
    over["batches"][0]["issued"] = 1
    yield "more returned than issued", _text(over)
    text = json.dumps(base, ensure_ascii=False, separators=(",", ":"))
    first = text.index('"answers":', text.index('"ballots":'))
    yield "duplicate key in a ballot", (text[:first] + '"duration_s":3,' + text[first:]).encode()
    yield "duplicate top-level key", (text[:-1] + ',"units":[]}').encode()
    yield "invalid JSON in a ballot", text.replace('"answers":', '"answers"', 1).encode()
    yield "trailing text", (text + " x").encode()
    yield "number beyond int64", text.replace('"duration_s":', '"duration_s":1' + "0" * 25 + ',"x":', 1).encode()
    yield "lone surrogate", text.replace('"source":"', '"source":"\\ud800', 1).encode()
    yield "NaN", text.replace('"duration_s":', '"duration_s":NaN,"y":', 1).encode()
    # The plain first reading must not hide what the hooks see: a repeated key
    # written with whitespace before its colon, one inside the answers, one in
    # a nested attribute, a number beyond int64 in an attribute.
    yield "duplicate key, spaced", (text[:first] + '"duration_s" :3,' + text[first:]).encode()
    item = text.index('{"', text.index('"answers":{"', first) + len('"answers":{"'))
    yield "duplicate item in a ballot", (text[:item + 1] + '"overall":"S",' + text[item + 1:]).encode()
    attrs = json.loads(_text(base))
    attrs["ballots"][3]["attributes"] = {"age": "<35", "more": {"k": 1}}
    yield "duplicate key in a nested attribute", _text(attrs).decode().replace('{"k": 1}', '{"k": 1, "k": 2}').encode()
    attrs["ballots"][3]["attributes"] = {"age": "<35", "big": 1}
    yield "attribute beyond int64", _text(attrs).decode().replace('"big": 1', '"big": 1' + "0" * 25).encode()
    # A value nested beyond the limit inside a ballot read plainly, and in the rules after the ballots.
    deep = "[" * 70 + "]" * 70
    yield "deep value in a ballot", (text[:first] + f'"extra":{deep},' + text[first:]).encode()
    yield "deep value after the ballots", (text[:-1] + f',"notes":{deep}}}').encode()
    yield "ballots not a list", _text({**base, "ballots": {}})
    yield "no ballots", _text({k: v for k, v in base.items() if k != "ballots"})
    yield "not an object", b"[1, 2]"
    yield "bad rules after the ballots", _text({**base, "rules": {"trim_per_end": 0.9}})
    yield "bad vetoes", _text({**base, "vetoes": [{"unit": "nope"}]})
    yield "bad margins", _text({**base, "margins": {"g9": {"age": {"<35": -1}}}})


@pytest.mark.parametrize("name,text", list(_refusals()), ids=[n for n, _ in _refusals()])
def test_refusals_are_the_document_paths(name, text):
    want = _problems(lambda: loads_bundle(text))
    assert want, name
    assert _problems(lambda: read_campaign(text, min_bytes=0)) == want


@pytest.mark.parametrize("name", INVALID_CASES)
def test_invalid_conformance_cases_refused_alike(name):
    text = case_bytes(name)
    assert _problems(lambda: read_campaign(text, min_bytes=0)) == _problems(lambda: loads_bundle(text))


def test_not_utf8_and_bom():
    text = _text(generated_bundle(6, n=30))
    bad = text.replace("满意".encode(), b"\xff\xfe", 1)
    assert _problems(lambda: read_campaign(bad, min_bytes=0)) == _problems(lambda: loads_bundle(bad))
    want = _results_text(evaluate(read_campaign(text, min_bytes=0)))
    assert _results_text(evaluate(read_campaign(b"\xef\xbb\xbf" + text, min_bytes=0))) == want
    assert _results_text(evaluate(read_campaign(text.decode(), min_bytes=0))) == want
    # Two BOMs: the second is the document's first character, refused alike.
    twice = b"\xef\xbb\xbf\xef\xbb\xbf" + text
    assert _problems(lambda: read_campaign(twice, min_bytes=0)) == _problems(lambda: loads_bundle(twice))
    assert _problems(lambda: read_campaign(twice.decode("utf-8"), min_bytes=0)) == \
        _problems(lambda: loads_bundle(twice.decode("utf-8")))


def test_network_of_fast_ipv4_agrees_with_ipaddress():
    import ipaddress

    def slow(source):
        try:
            ip = ipaddress.ip_address(source.strip())
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))

    rng = random.Random(9)
    cases = [" 1.2.3.4 ", "01.2.3.4", "1.2.3.256", "255.255.255.255", "0.0.0.0", "1.2.3", "1.2.3.4\n",
             "\u0661.2.3.4", "1.2.3.04", "::ffff:1.2.3.4", "2001:db8::1", "1.2.3.4.5"]
    cases += [".".join(rng.choice([str(rng.randint(0, 300)), f"0{rng.randint(0, 99)}"]) for _ in range(4))
              for _ in range(3000)]
    assert [network_of(c) for c in cases] == [slow(c) for c in cases]


def _large_bundle(path, n=4500):
    doc = generated_bundle(7, n=n)
    doc["rules"]["bootstrap"]["replicates"] = 30
    text = _text(doc)
    assert len(text) > (1 << 20)  # above STREAM_MIN_BYTES: the CLI streams it
    path.write_bytes(text)
    return text


def test_cli_streams_a_large_bundle_to_the_same_results(tmp_path):
    text = _large_bundle(tmp_path / "big.json")
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(tmp_path / "big.json")],
                          capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    want = evaluate_document(loads_bundle(text)).to_json()
    assert json.loads(proc.stdout) == json.loads(json.dumps(want))


def test_cli_reads_a_large_bundle_ballot_by_ballot(tmp_path, monkeypatch, capsysbinary):
    text = _large_bundle(tmp_path / "big.json")
    want = _results_text(evaluate_document(loads_bundle(text)))
    monkeypatch.setattr(parse_module, "loads_bundle", lambda t: pytest.fail("fell back to loads_bundle"))
    assert main(["evaluate", str(tmp_path / "big.json")]) == 0
    got = json.loads(capsysbinary.readouterr().out)
    assert json.dumps(got, ensure_ascii=False, separators=(",", ":")) == want


def test_cli_refuses_a_duplicate_key_in_a_large_bundle(tmp_path):
    text = _large_bundle(tmp_path / "big.json").decode()
    at = text.index('"answers":', text.index('"ballots":'))
    at = text.index('"answers":', at + 1)  # the second ballot
    (tmp_path / "dup.json").write_text(text[:at] + '"batch":"g1-web",' + text[at:], encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "analysis", "evaluate", str(tmp_path / "dup.json")],
                          capture_output=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    errors = json.loads(proc.stdout)["errors"]
    assert {"path": "ballots[1].batch", "reason": "重复的键 batch", "reason_en": "duplicate key batch"} in errors


# ---------------------------------------------------------------------------
# The second half of the ballots read by a helper process (parallel=True)


@pytest.fixture
def helper_always(monkeypatch):
    """A helper for texts of any size (it takes 8 MB at least otherwise)."""
    monkeypatch.setattr(stream_module, "PARALLEL_MIN_CHARS", 0)


@pytest.mark.parametrize("seed", [21, 22])
def test_helper_reads_the_same_campaign(seed, helper_always, monkeypatch):
    doc = generated_bundle(seed, n=900)
    doc["ballots"][600]["source"] = "},{ inside a string"
    text = _text(doc)
    want = from_document(loads_bundle(text), validated=True)
    started = []
    real = stream_module._Helper.start
    monkeypatch.setattr(stream_module._Helper, "start", classmethod(
        lambda cls, *a: started.append(1) or real(*a)))
    joined = []
    real_join = stream_module._Helper.join
    monkeypatch.setattr(stream_module._Helper, "join", lambda self, *a: joined.append(real_join(self, *a)) or joined[-1])
    monkeypatch.setattr(parse_module, "loads_bundle", lambda t: pytest.fail("fell back to loads_bundle"))
    _same_campaign(read_campaign(text, min_bytes=0, parallel=True), want)
    assert started and joined and joined[0] is not None  # the helper's half was taken


@pytest.mark.parametrize("where", ["inside a ballot", "helper fails", "no guess"])
def test_a_wrong_split_or_a_failed_helper_reads_on_to_the_same_campaign(where, helper_always, monkeypatch):
    doc = generated_bundle(23, n=600)
    text = _text(doc)
    want = from_document(loads_bundle(text), validated=True)
    if where == "inside a ballot":
        # A guess that is no ballot's start: the reading never lands on it.
        monkeypatch.setattr(stream_module, "_split_guess",
                            lambda t, i: t.index('"answers"', i + (len(t) - i) // 2))
    elif where == "helper fails":
        def fail(*args):
            raise RuntimeError("the helper breaks")
        monkeypatch.setattr(stream_module, "_helper_read", fail)
    else:
        monkeypatch.setattr(stream_module, "_split_guess", lambda t, i: -1)
    _same_campaign(read_campaign(text, min_bytes=0, parallel=True), want)


def _second_half_refusals():
    base = generated_bundle(24, n=400)
    dup = json.loads(_text(base))
    dup["ballots"][390]["id"] = dup["ballots"][3]["id"]  # a first-half id again in the second half
    yield "duplicate id across the halves", _text(dup)
    dup = json.loads(_text(base))
    dup["ballots"][395]["id"] = dup["ballots"][390]["id"]
    yield "duplicate id in the second half", _text(dup)
    bad = json.loads(_text(base))
    bad["ballots"][380]["batch"] = "nope"
    yield "unknown batch in the second half", _text(bad)
    late = json.loads(_text(base))
    late["ballots"][385]["submitted_at"] = "2026-02-30T08:00:00+08:00"
    yield "impossible date in the second half", _text(late)
    text = _text(base).decode()
    at = text.index('"answers":', text.index(base["ballots"][392]["id"]))
    yield "duplicate key in the second half", (text[:at] + '"batch":"g1-web",' + text[at:]).encode()


@pytest.mark.parametrize("name,text", list(_second_half_refusals()), ids=[n for n, _ in _second_half_refusals()])
def test_refusals_found_by_the_helper_are_the_document_paths(name, text, helper_always):
    want = _problems(lambda: loads_bundle(text))
    assert want, name
    assert _problems(lambda: read_campaign(text, min_bytes=0, parallel=True)) == want


def test_cli_reads_with_a_helper_to_the_same_results(tmp_path, helper_always, capsysbinary):
    text = _large_bundle(tmp_path / "big.json")
    want = _results_text(evaluate_document(loads_bundle(text)))
    assert main(["evaluate", str(tmp_path / "big.json")]) == 0
    got = json.loads(capsysbinary.readouterr().out)
    assert json.dumps(got, ensure_ascii=False, separators=(",", ":")) == want


def test_ipv6_mapped_sources_do_not_make_the_whole_reading_count_again(monkeypatch):
    # "::ffff:10.0.0.8" starts with a colon: its opening quote reads as a key end.
    doc = generated_bundle(25, n=300)
    assert any(b.get("source") == "::ffff:10.0.0.8" for b in doc["ballots"])
    text = _text(doc)
    passes = []
    real = stream_module._streamed
    monkeypatch.setattr(stream_module, "_streamed", lambda *a, **k: passes.append(k["per_ballot"]) or real(*a, **k))
    _same_campaign(read_campaign(text, min_bytes=0), from_document(loads_bundle(text), validated=True))
    assert passes == [False]


@pytest.mark.parametrize("parallel", [False, True])
def test_times_parsed_some_at_a_time_are_the_same(parallel, helper_always, monkeypatch):
    monkeypatch.setattr(stream_module, "_STAMPS", 13)
    doc = generated_bundle(26, n=500)
    text = _text(doc)
    _same_campaign(read_campaign(text, min_bytes=0, parallel=parallel), from_document(loads_bundle(text), validated=True))
    doc["ballots"][140]["submitted_at"] = "2026-13-02T08:00:00+08:00"
    bad = _text(doc)
    assert _problems(lambda: read_campaign(bad, min_bytes=0, parallel=parallel)) == _problems(lambda: loads_bundle(bad))


def test_cli_keeps_freed_memory_below_the_helpers_bound(tmp_path, monkeypatch, capsysbinary):
    # glibc agrees (this machine's C library); the command line asks only
    # below the size where memory, not speed, binds (as the helpers do), and
    # only as the command line (main called from Python leaves its caller's
    # process as it is).
    import subprocess
    import sys

    cli = sys.modules["analysis.__main__"]
    if sys.platform.startswith("linux"):  # asked in a process of its own: this one stays as it is
        said = subprocess.run([sys.executable, "-c", "from analysis.__main__ import keep_freed_memory as k; print(k())"],
                              capture_output=True, text=True, check=True).stdout
        assert said.strip() == "True"
    asked = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: asked.append(1) or True)
    path = tmp_path / "b.json"
    path.write_bytes(_text(generated_bundle(26, n=40)))
    assert main(["evaluate", str(path)]) == 0  # this process is pytest, not python -m analysis
    assert asked == []
    monkeypatch.setattr(cli, "_is_command_line", lambda orig_argv: True)
    assert main(["evaluate", str(path)]) == 0
    assert asked == [1]
    monkeypatch.setattr(cli, "PARALLEL_MAX_CHARS", 10)
    assert main(["evaluate", str(path)]) == 0
    assert asked == [1]
    capsysbinary.readouterr()


def test_only_the_command_line_sets_openblas_idle_threads_to_sleep():
    # python -m analysis (with or without interpreter options) tells
    # OpenBLAS's idle threads to sleep at once; any other process importing
    # the package (this test run, the application) is left as it is.
    import sys

    import analysis

    assert analysis._is_command_line(["python", "-m", "analysis", "evaluate", "b.json"])
    assert analysis._is_command_line(["/usr/bin/python3", "-X", "importtime", "-m", "analysis"])
    assert not analysis._is_command_line(["python", "-m", "pytest", "tests/analysis"])
    assert not analysis._is_command_line(["python", "-m", "analysis_extra"])
    assert not analysis._is_command_line(["python", "-m"])
    assert not analysis._is_command_line(sys.orig_argv)
