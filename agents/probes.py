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


def _probes() -> list[Probe]:
    items: list[Probe] = []
    for text, label in [
        ("I absolutely love this phone, best purchase of the year.", "positive"),
        ("The food was cold and the waiter was rude.", "negative"),
        ("Great acting, wonderful soundtrack, I cried twice.", "positive"),
        ("It broke after two days. Waste of money.", "negative"),
        ("This is the best day of my life!", "positive"),
    ]:
        items.append(Probe("sentiment", f"Sentiment of: {text}", Sentiment, ("label", label)))
    for text in [
        "Maria Lopez, 34, moved to Madrid last spring.",
        "Our new hire is Tom Becker (age 27) from Berlin.",
        "Aiko Tanaka is 41 and lives in Osaka.",
        "Grandpa Joe turned 80 this year; he still lives in Dublin.",
        "Priya Nair, a 29-year-old engineer based in Bangalore.",
    ]:
        items.append(Probe("extract", f"Extract the person: {text}", Person))
    for question, answer in [
        ("What is 12 + 30?", 42.0),
        ("What is 7 times 8?", 56.0),
        ("What is 100 minus 37?", 63.0),
        ("What is 81 divided by 9?", 9.0),
        ("What is 15 + 15 + 15?", 45.0),
    ]:
        items.append(Probe("math", question, MathAnswer, ("answer", answer)))
    for text, topic in [
        ("The striker scored twice in the final minutes of the match.", "sports"),
        ("Parliament passed the new budget after a long debate.", "politics"),
        ("Researchers sequenced the genome of a rare orchid.", "science"),
        ("Shares of the retailer rose 8% after strong earnings.", "business"),
        ("The film premiered at the festival to a standing ovation.", "entertainment"),
    ]:
        items.append(Probe("topic", f"Topic of: {text}", Topic, ("topic", topic)))
    for text, english in [
        ("Where is the train station?", True),
        ("¿Dónde está la estación de tren?", False),
        ("Wo ist der Bahnhof?", False),
        ("Où est la gare ?", False),
        ("The weather is lovely today.", True),
    ]:
        items.append(
            Probe("language", f"Which language is this: {text}", Language, ("is_english", english))
        )
    for text in [
        "Solar panels convert sunlight into electricity using photovoltaic cells.",
        "The recipe needs flour, eggs, sugar and a pinch of salt.",
        "Machine learning models learn patterns from labelled training data.",
        "The hiking trail climbs through pine forest to a glacier lake.",
        "Interest rates affect mortgages, savings and business investment.",
    ]:
        items.append(Probe("keywords", f"Keywords of: {text}", Keywords))
    for question, answer in [
        ("Is water wet?", True),
        ("Is the sun a planet?", False),
        ("Do fish live in water?", True),
        ("Is 7 an even number?", False),
        ("Is Paris in France?", True),
    ]:
        items.append(Probe("yesno", question, YesNo, ("answer", answer)))
    for thing in [
        "A pizza with burnt crust but excellent toppings.",
        "A laptop with great battery life and a dim screen.",
        "A hotel room that was clean, quiet and cheap.",
        "A novel with a slow start and a brilliant ending.",
        "A bus that was 40 minutes late.",
    ]:
        items.append(Probe("rating", f"Rate from 1 to 10: {thing}", Rating))
    for text in [
        "The city council voted to build a new park with a playground and a pond.",
        "A storm knocked out power to 10,000 homes; crews expect repairs by Friday.",
        "The library will extend its opening hours during exam season.",
        "A local bakery won the national award for the best sourdough bread.",
        "Scientists found that regular walking improves sleep quality in adults.",
    ]:
        items.append(Probe("summary", f"Title and summary of: {text}", Summary))
    for prompt in [
        "Write something about dogs.",
        "Summarize the following article in exactly three bullet points for a busy executive.",
        "Do the thing with the data.",
        "Translate the user's message into French, keeping names unchanged.",
        "Explain it better.",
    ]:
        items.append(Probe("critique", f"Critique this prompt: {prompt}", Critique))
    return items


PROBES: tuple[Probe, ...] = tuple(_probes())
