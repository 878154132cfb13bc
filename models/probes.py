"""A varied probe set for profiling models: ten structured tasks, five inputs each.

Each probe asks for a pydantic object; a probe passes when the reply validates
and, where the answer is known, matches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["PROBES", "Probe"]


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float = Field(ge=0, le=1, description="0 to 1")


class Person(BaseModel):
    name: str = Field(max_length=80)
    age: int = Field(ge=0, le=150)
    city: str = Field(max_length=80)


class MathAnswer(BaseModel):
    answer: float = Field(description="the final number")
    steps: list[str] = Field(max_length=5, description="at most five short steps")


class Topic(BaseModel):
    topic: Literal["sports", "politics", "science", "business", "entertainment"]


class Language(BaseModel):
    language: str = Field(max_length=40, description="name of the language in English")
    is_english: bool


class Keywords(BaseModel):
    keywords: list[str] = Field(min_length=1, max_length=5)


class YesNo(BaseModel):
    answer: bool
    reason: str = Field(max_length=200)


class Rating(BaseModel):
    score: int = Field(ge=1, le=10)
    justification: str = Field(max_length=200)


class Summary(BaseModel):
    title: str = Field(max_length=60)
    summary: str = Field(max_length=300)


class Critique(BaseModel):
    clarity: int = Field(ge=1, le=5, description="1 unclear to 5 very clear")
    issues: list[str] = Field(max_length=4)


@dataclass(frozen=True)
class Probe:
    """One profiling question: the text, the schema, and the expected field value if known."""

    kind: str
    prompt: str
    schema: type[BaseModel]
    expect: tuple[str, object] | None = None


@dataclass(frozen=True)
class _ProbeSet:
    kind: str
    template: str
    schema: type[BaseModel]
    field: str | None
    cases: tuple[tuple[str, object], ...]


# (kind, prompt template, schema, field checked, cases of (text, expected value or None))
_SETS: tuple[_ProbeSet, ...] = (
    _ProbeSet("sentiment", "Sentiment of: {}", Sentiment, "label", (
        ("I absolutely love this phone, best purchase of the year.", "positive"),
        ("The food was cold and the waiter was rude.", "negative"),
        ("Great acting, wonderful soundtrack, I cried twice.", "positive"),
        ("It broke after two days. Waste of money.", "negative"),
        ("This is the best day of my life!", "positive"),
    )),
    _ProbeSet("extract", "Extract the person: {}", Person, None, (
        ("Maria Lopez, 34, moved to Madrid last spring.", None),
        ("Our new hire is Tom Becker (age 27) from Berlin.", None),
        ("Aiko Tanaka is 41 and lives in Osaka.", None),
        ("Grandpa Joe turned 80 this year; he still lives in Dublin.", None),
        ("Priya Nair, a 29-year-old engineer based in Bangalore.", None),
    )),
    _ProbeSet("math", "{}", MathAnswer, "answer", (
        ("What is 12 + 30?", 42.0),
        ("What is 7 times 8?", 56.0),
        ("What is 100 minus 37?", 63.0),
        ("What is 81 divided by 9?", 9.0),
        ("What is 15 + 15 + 15?", 45.0),
    )),
    _ProbeSet("topic", "Topic of: {}", Topic, "topic", (
        ("The striker scored twice in the final minutes of the match.", "sports"),
        ("Parliament passed the new budget after a long debate.", "politics"),
        ("Researchers sequenced the genome of a rare orchid.", "science"),
        ("Shares of the retailer rose 8% after strong earnings.", "business"),
        ("The film premiered at the festival to a standing ovation.", "entertainment"),
    )),
    _ProbeSet("language", "Which language is this: {}", Language, "is_english", (
        ("Where is the train station?", True),
        ("¿Dónde está la estación de tren?", False),
        ("Wo ist der Bahnhof?", False),
        ("Où est la gare ?", False),
        ("The weather is lovely today.", True),
    )),
    _ProbeSet("keywords", "Keywords of: {}", Keywords, None, (
        ("Solar panels convert sunlight into electricity using photovoltaic cells.", None),
        ("The recipe needs flour, eggs, sugar and a pinch of salt.", None),
        ("Machine learning models learn patterns from labelled training data.", None),
        ("The hiking trail climbs through pine forest to a glacier lake.", None),
        ("Interest rates affect mortgages, savings and business investment.", None),
    )),
    _ProbeSet("yesno", "{}", YesNo, "answer", (
        ("Is water wet?", True),
        ("Is the sun a planet?", False),
        ("Do fish live in water?", True),
        ("Is 7 an even number?", False),
        ("Is Paris in France?", True),
    )),
    _ProbeSet("rating", "Rate from 1 to 10: {}", Rating, None, (
        ("A pizza with burnt crust but excellent toppings.", None),
        ("A laptop with great battery life and a dim screen.", None),
        ("A hotel room that was clean, quiet and cheap.", None),
        ("A novel with a slow start and a brilliant ending.", None),
        ("A bus that was 40 minutes late.", None),
    )),
    _ProbeSet("summary", "Title and summary of: {}", Summary, None, (
        ("The city council voted to build a new park with a playground and a pond.", None),
        ("A storm knocked out power to 10,000 homes; crews expect repairs by Friday.", None),
        ("The library will extend its opening hours during exam season.", None),
        ("A local bakery won the national award for the best sourdough bread.", None),
        ("Scientists found that regular walking improves sleep quality in adults.", None),
    )),
    _ProbeSet("critique", "Critique this prompt: {}", Critique, None, (
        ("Write something about dogs.", None),
        ("Summarize the following article in exactly three bullet points for a busy "
         "executive.", None),
        ("Do the thing with the data.", None),
        ("Translate the user's message into French, keeping names unchanged.", None),
        ("Explain it better.", None),
    )),
)

PROBES: tuple[Probe, ...] = tuple(
    Probe(p.kind, p.template.format(text), p.schema,
          None if p.field is None else (p.field, expected))
    for p in _SETS for text, expected in p.cases
)
