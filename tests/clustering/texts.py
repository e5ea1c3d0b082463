"""Small hand-written stories for the core tests (not real articles)."""

FLOOD = (
    "Heavy rain caused the Ogun river to burst its banks on Tuesday night, flooding more than "
    "two hundred homes in the northern districts of Abeokuta and forcing families to spend "
    "the night in schools and churches on higher ground.\n"
    "The state emergency management agency said three people were missing and that rescue "
    "boats had been sent to the worst affected streets near the old market.\n"
    "Residents said the water rose within an hour and that drainage channels built last year "
    "had been blocked by refuse for weeks before the storm.\n"
    "The governor is expected to visit the area on Wednesday morning and to announce relief "
    "funds for traders whose shops were destroyed."
)

# The same topic, a different story: must never join FLOOD.
FLOOD_OTHER = (
    "Farmers in Kebbi state say floods have washed away rice fields worth millions of naira, "
    "a month before the harvest was due to begin across the Argungu plains.\n"
    "The farmers association asked the federal ministry of agriculture to release seedlings "
    "and fertiliser so that a second planting can start once the water recedes.\n"
    "Officials said a survey of the damage would be completed by the end of the week and that "
    "compensation would depend on its findings.\n"
    "Traders warned that the price of local rice could rise sharply in the coming months."
)


def with_byline(text: str) -> str:
    return "By Amina Bello, Staff Reporter\nABEOKUTA (AFP) — " + text


def with_edits(text: str) -> str:
    return text.replace("Tuesday night", "Tuesday evening").replace("three people", "3 people")


def cut(text: str) -> str:
    return "\n".join(text.split("\n")[:2])
