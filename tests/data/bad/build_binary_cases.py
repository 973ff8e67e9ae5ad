"""Write the cases of this corpus whose exact bytes matter (encodings, line endings, binary formats).

The plain-text cases are committed as they are; these are easier to review as code. Run from the
project root to rewrite them (the output is deterministic):

    .venv/bin/python tests/data/bad/build_binary_cases.py
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
HEADER = "CustomerID,OrderID,OrderDate,Amount"
ROWS = ["00017,A1,2024-01-05,12.50", "00017,A2,2024-02-01,7.25", "0042,A3,2024-02-03,100.00"]


def _text(lines: list[str], newline: str = "\n") -> str:
    return newline.join(lines) + newline


def _xlsx_bytes() -> bytes:
    """A minimal but valid one-sheet workbook (Office Open XML), as a spreadsheet program saves it."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="orders" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>CustomerID</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>Amount</t></is></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>00017</t></is></c><c r="B2"><v>12.5</v></c></row>'
            "</sheetData></worksheet>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as workbook:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            workbook.writestr(info, content)
    return buffer.getvalue()


def build() -> None:
    (HERE / "bom_utf8.csv").write_bytes(b"\xef\xbb\xbf" + _text([HEADER, *ROWS]).encode("utf-8"))
    (HERE / "crlf.csv").write_bytes(_text([HEADER, *ROWS], "\r\n").encode("ascii"))
    latin1 = [f"{HEADER},Category", "00017,A1,2024-01-05,12.50,Café", "00017,A2,2024-02-01,7.25,Électroménager",
              "0042,A3,2024-02-03,100.00,Boulangerie"]
    (HERE / "latin1.csv").write_bytes(_text(latin1).encode("latin-1"))
    german_excel = ["Kundennummer;Beleg;Datum;Betrag", "00017;A1;05.01.2024;12,50 €", "00017;A2;01.02.2024;1.234,50 €",
                    "0042;A3;03.02.2024;-7,25 €"]
    (HERE / "excel_german_cp1252.csv").write_bytes(_text(german_excel, "\r\n").encode("cp1252"))
    unicode_text = ["CustomerID\tOrderID\tOrderDate\tAmount", "00017\tA1\t2024-01-05\t12.50",
                    "00017\tA2\t2024-02-01\t7.25", "0042\tA3\t2024-02-03\t100.00"]
    (HERE / "excel_unicode_text_utf16.txt").write_bytes(_text(unicode_text, "\r\n").encode("utf-16"))
    (HERE / "gzip_csv.csv.gz").write_bytes(gzip.compress(_text([HEADER, *ROWS]).encode("ascii"), mtime=0))
    (HERE / "excel_renamed.csv").write_bytes(_xlsx_bytes())

    frame = pd.DataFrame({"CustomerID": ["00017", "00017", "0042"], "OrderID": ["A1", "A2", "A3"],
                          "OrderDate": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-02-03"]),
                          "Amount": ["12.50", "7.25", "100.00"]})
    frame.to_parquet(HERE / "parquet_amount_as_string.parquet", index=False)
    float_ids = pd.DataFrame({"CustomerID": [17.0, 42.0, float("nan")], "OrderID": ["A1", "A2", "A3"],
                              "OrderDate": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-02-03"]),
                              "Amount": [12.5, 7.25, 100.0]})
    float_ids.to_parquet(HERE / "parquet_float_ids.parquet", index=False)
    zoned = pd.DataFrame({"CustomerID": ["00017", "0042"], "OrderID": ["A1", "A2"],
                          "OrderDate": pd.to_datetime(["2024-01-05 00:30", "2024-07-01 12:00"]).tz_localize(
                              "Europe/Berlin"),
                          "Amount": [12.5, 7.25]})
    zoned.to_parquet(HERE / "parquet_time_zone.parquet", index=False)


if __name__ == "__main__":
    build()
