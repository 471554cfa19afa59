"""The llm method (DP-LLMTGen): serialise → format stage → DP-SGD → constrained decoding.

Nothing here imports torch at import time; `models.require_llm_extra` says what to install.
"""

from dbsynth.tabular.llm.examples import ColumnVocabulary, UnitRows, vocabulary
from dbsynth.tabular.llm.method import LLM, LlmModel, LlmTable, llm_method

__all__ = ["ColumnVocabulary", "UnitRows", "vocabulary", "LLM", "LlmModel", "LlmTable", "llm_method"]
