"""Structure awareness: JSON, key=value, CSV/TSV, psql and Markdown tables, key blocks.

All values are synthetic.
"""

from __future__ import annotations

import json

from hgate.mask.masker import Masker
from hgate.mask.stream import MaskingStream


def masked(masker: Masker, lines: list[str]) -> list[str]:
    results = masker.scan_lines(lines)
    return [
        masker.render(line, spans).text if isinstance(spans, list) else "[ERR]"
        for line, spans in zip(lines, results, strict=True)
    ]


def test_json_keys_mask_shapeless_values(masker: Masker) -> None:
    line = json.dumps({"first_name": "Ann", "mrn": "X-1", "status": "ok", "name": "build"})
    out = masker.mask(line).text
    assert '"Ann"' not in out and "X-1" not in out, "planted value leaked"
    assert '"status": "ok"' in out and '"name": "build"' in out


def test_pretty_json_and_key_value(masker: Masker) -> None:
    lines = ["{", '  "patient_name": "Jane Roe",', '  "dob": "1962-03-14"', "}"]
    out = "\n".join(masked(masker, lines))
    assert "Jane Roe" not in out and "1962-03-14" not in out, "planted value leaked"
    assert "X9" not in masker.mask("event=update member_id=X9Q7 ok=1").text


def test_csv_header_carries_over_to_rows(masker: Masker) -> None:
    lines = [
        "id,first_name,dob,city",
        "1,Ann,03/04/1950,Springfield",
        "2,Bo,1961-02-03,Shelbyville",
    ]
    out = masked(masker, lines)
    assert out[0] == lines[0]
    for value in ("Ann", "03/04/1950", "Springfield", "Bo", "1961-02-03", "Shelbyville"):
        assert value not in "\n".join(out), "planted value leaked"
    assert out[1].startswith("1,")


def test_table_state_spans_stream_reads(masker: Masker) -> None:
    stream = MaskingStream(masker)
    first = stream.feed(b" id | last_name | status\n----+-----------+-------\n")
    rows = stream.feed(b"  7 | Okafor     | active\n(1 row)\n  8 | Okafor\n")
    assert all("Okafor" not in line.text for line in rows[:1]), "planted value leaked"
    assert rows[-1].text == "  8 | Okafor"  # the table ended with (1 row)
    assert first[0].text == " id | last_name | status"


def test_markdown_and_tsv_tables(masker: Masker) -> None:
    md = masked(masker, ["| id | ssn | note |", "|---|---|---|", "| 1 | 123456789 | x |"])
    assert "123456789" not in md[2], "planted value leaked"
    tsv = masked(masker, ["id\tphone", "1\tunlisted-4471"])
    assert "unlisted-4471" not in tsv[1], "planted value leaked"


def test_table_of_only_names_is_not_people(masker: Masker) -> None:
    lines = [" Schema | Name | Type", "--------+------+------", " public | jobs | table"]
    assert masked(masker, lines) == lines


def test_psql_expanded_display(masker: Masker) -> None:
    assert "Okafor" not in masker.mask("last_name | Okafor").text, "planted value leaked"


def test_private_key_block_is_masked_to_its_end(masker: Masker) -> None:
    lines = [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "-----END OPENSSH PRIVATE KEY-----",
        "after",
    ]
    out = masked(masker, lines)
    assert "b3BlbnNz" not in "\n".join(out), "planted value leaked"
    assert out[3] == "after"


def test_exact_values_in_encodings(masker: Masker) -> None:
    import base64
    from urllib.parse import quote

    value = "pa$$ w0rd/secret"
    masker.add_exact(value, "CREDENTIAL")
    for encoded in (
        base64.b64encode(b"xx" + value.encode()).decode(),
        quote(value, safe=""),
        json.dumps(value),
        value.encode().hex(),
    ):
        assert value not in masker.mask(encoded).text
        assert masker.mask(f"v={encoded}").findings, "encoded value not found"
