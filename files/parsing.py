"""Uploaded bytes → plain text (Markdown-like, so chunking can see headings, paragraphs and code blocks).

Text, Markdown, CSV, JSON and source code are decoded (UTF-8, UTF-16 with a byte-order mark, else Windows-1252);
HTML is converted with the standard library's parser (scripts and styles dropped, headings as `#`); PDF pages are
read by pypdf; DOCX paragraphs, headings and tables come from `word/document.xml`, read with the standard library
after checking how large it expands (a zip bomb is refused before it is inflated). Every failure is a ParseError
whose message a person can act on; nothing is written here."""

import io
import re
import zipfile
from html.parser import HTMLParser
from pathlib import PurePosixPath
from xml.etree.ElementTree import ParseError as XmlParseError
from xml.etree.ElementTree import iterparse

TEXT_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".mdx": "text/markdown",
    ".rst": "text/x-rst",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".xml": "application/xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".ini": "text/plain",
    ".cfg": "text/plain",
}
CODE_EXTENSIONS = {
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".kts", ".scala", ".go", ".rs",
    ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".m", ".mm", ".sh", ".bash", ".zsh",
    ".ps1", ".sql", ".r", ".lua", ".pl", ".pm", ".dart", ".ex", ".exs", ".erl", ".hs", ".clj", ".css", ".scss",
    ".less", ".vue", ".svelte", ".tf", ".proto", ".graphql", ".dockerfile", ".makefile", ".gradle",
}  # fmt: skip
HTML_TYPES = {".html": "text/html", ".htm": "text/html"}
PDF = ".pdf"
DOCX = ".docx"
DOCX_MAX_XML_BYTES = 64 * 1024 * 1024
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SUPPORTED = sorted({*TEXT_TYPES, *CODE_EXTENSIONS, *HTML_TYPES, PDF, DOCX})


class ParseError(Exception):
    """The file cannot be turned into text; the message says why, for the person who uploaded it."""


def extension(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if not suffix and PurePosixPath(name).name.lower() in ("dockerfile", "makefile"):
        return "." + PurePosixPath(name).name.lower()
    return suffix


def mime_type(name: str) -> str | None:
    """The MIME type a supported file name stands for, or None when the type is not supported."""
    ext = extension(name)
    if ext in TEXT_TYPES:
        return TEXT_TYPES[ext]
    if ext in HTML_TYPES:
        return HTML_TYPES[ext]
    if ext == PDF:
        return "application/pdf"
    if ext == DOCX:
        return DOCX_TYPE
    if ext in CODE_EXTENSIONS:
        return "text/x-code"
    return None


def extract_text(name: str, data: bytes, *, max_chars: int) -> str:
    ext = extension(name)
    if ext == PDF:
        text = _pdf_text(data, max_chars)
    elif ext == DOCX:
        text = _docx_text(data, max_chars)
    elif ext in HTML_TYPES:
        text = _html_text(decode_text(data))
    else:
        text = decode_text(data)
        if ext in CODE_EXTENSIONS:
            text = text.replace("\r\n", "\n")
    text = text.replace("\x00", "")
    if len(text) > max_chars:
        raise ParseError(f"the file holds more than {max_chars:,} characters of text")
    if not text.strip():
        raise ParseError(
            "no text could be extracted from the file" + (" (a scanned PDF needs OCR)" if ext == PDF else "")
        )
    return text


def decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ParseError("the file claims to be UTF-16 text but is not") from None
    head = data[:65536]
    if b"\x00" in head or _control_share(head) > 0.1:
        raise ParseError("the file is not text: it holds binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ParseError("the file is not text in a known encoding (UTF-8, UTF-16 or Windows-1252)") from None


def _control_share(data: bytes) -> float:
    if not data:
        return 0.0
    control = sum(1 for byte in data if byte < 32 and byte not in (9, 10, 12, 13))
    return control / len(data)


# -- PDF -----------------------------------------------------------------------------------------------------------


def _pdf_text(data: bytes, max_chars: int) -> str:
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise ParseError("the file is not a PDF (it does not start with %PDF-)")
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ParseError("the PDF is encrypted")
        pages: list[str] = []
        size = 0
        for page in reader.pages:
            text = (page.extract_text() or "").strip()
            pages.append(text)
            size += len(text)
            if size > max_chars:
                raise ParseError(f"the file holds more than {max_chars:,} characters of text")
    except ParseError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ParseError(f"the PDF cannot be read: {_short(exc)}") from None
    return "\n\n".join(text for text in pages if text)


# -- DOCX ----------------------------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_text(data: bytes, max_chars: int) -> str:
    # The XML around the text: at most this many bytes are ever inflated (a zip bomb is refused from its header,
    # or cut off here when the header lies).
    limit = min(max_chars * 6, DOCX_MAX_XML_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ParseError("the file is not a DOCX document (not a zip archive)") from None
    with archive:
        try:
            info = archive.getinfo("word/document.xml")
        except KeyError:
            raise ParseError("the file is not a DOCX document (no word/document.xml)") from None
        if info.file_size > limit:
            raise ParseError(f"the DOCX document expands to {info.file_size:,} bytes, more than the {limit:,} allowed")
        try:
            with archive.open(info) as stream:
                xml = stream.read(limit + 1)  # the header's size may lie: never inflate past the limit
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise ParseError(f"the DOCX document cannot be read: {_short(exc)}") from None
    if len(xml) > limit:
        raise ParseError(f"the DOCX document expands to more than the {limit:,} bytes allowed")
    return _docx_xml_text(xml)


def _docx_xml_text(xml: bytes) -> str:
    # Entities (billion laughs, external files) can only be declared in a DTD; Word never writes one, so a
    # document with a DOCTYPE is refused before the parser sees it.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise ParseError("the DOCX document's XML declares a DTD, which Word documents never do")
    lines: list[str] = []
    paragraph: list[str] = []
    style = ""
    row: list[str] | None = None
    try:
        for event, element in iterparse(io.BytesIO(xml), events=("start", "end")):  # noqa: S314 - no DTD (above)
            tag = element.tag
            if event == "start":
                if tag == f"{_W}p":
                    paragraph, style = [], ""
                elif tag == f"{_W}tr":
                    row = []
                continue
            if tag == f"{_W}t":
                paragraph.append(element.text or "")
            elif tag == f"{_W}tab":
                paragraph.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                paragraph.append("\n")
            elif tag == f"{_W}pStyle":
                style = element.get(f"{_W}val", "")
            elif tag == f"{_W}p":
                text = "".join(paragraph)
                if row is not None:
                    row.append(text)
                else:
                    level = re.fullmatch(r"(?i)heading\s*([1-6])", style)
                    lines.append(("#" * int(level.group(1)) + " " + text) if level and text else text)
                element.clear()
            elif tag == f"{_W}tr":
                if row is not None:
                    lines.append(" | ".join(cell.strip() for cell in row))
                row = None
                element.clear()
    except XmlParseError as exc:
        raise ParseError(f"the DOCX document's XML is malformed: {_short(exc)}") from None
    return "\n\n".join(line for line in lines if line.strip())


# -- HTML ----------------------------------------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    BLOCKS = {"p", "div", "section", "article", "header", "footer", "main", "aside", "table", "ul", "ol", "blockquote"}
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("br", "tr"):
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" | ")
        elif tag == "pre":
            self.pre += 1
            self.out.append("\n\n```\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self.out.append("\n```\n\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def _html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
