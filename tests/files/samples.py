"""Sample files built in memory: a PDF with real text pages (written by hand: catalog, pages, Helvetica, content
streams, xref), a DOCX (the zip parts Word needs), and their broken twins. Shared by tests and bench/."""

import io
import zipfile


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose pages show these lines of text (pypdf extracts them back)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {content_id} 0 R >>".encode()
        )
        ops = ["BT", "/F1 10 Tf", "14 TL", "40 760 Td"]
        for line in lines:
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1", "replace")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="word/document.xml"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def make_docx(paragraphs: list[tuple[str, str]], *, document_xml: bytes | None = None) -> bytes:
    """A DOCX of (style, text) paragraphs: style '' for body text, 'Heading1'… for headings."""
    if document_xml is None:
        body = "".join(
            "<w:p>"
            + (f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else "")
            + f"<w:r><w:t>{text}</w:t></w:r></w:p>"
            for style, text in paragraphs
        )
        head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}">'
        document_xml = f"{head}<w:body>{body}</w:body></w:document>".encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELS)
        archive.writestr("word/document.xml", document_xml)
    return out.getvalue()


def make_docx_bomb(expanded_bytes: int = 200 * 1024 * 1024) -> bytes:
    """A small DOCX whose document.xml inflates to `expanded_bytes` (spaces compress ~1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_TYPES)
        with archive.open("word/document.xml", "w", force_zip64=True) as stream:
            stream.write(f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>'.encode())
            block = b" " * (1024 * 1024)
            for _ in range(expanded_bytes // len(block)):
                stream.write(block)
            stream.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


CORRUPT_PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\n" + bytes(range(256)) * 4 + b"\n%%EOF garbage"
BINARY_AS_TEXT = bytes(range(256)) * 64  # NUL and control bytes: not text, whatever the name says
