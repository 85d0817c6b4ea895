"""Bounds for ids in requests. Primary keys are INTEGER (32-bit on PostgreSQL), so a larger
id can name nothing: it is refused as invalid input instead of reaching the database."""

from typing import Annotated

from fastapi import Path
from pydantic import Field

MAX_ID = 2**31 - 1

BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
