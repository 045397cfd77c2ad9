"""The ``sklearn-curate`` command (the application): its sub-commands, inputs, outputs.

``curate`` (:mod:`._curate`) and ``influence`` (:mod:`._influence`) wire the
library's estimators together; what they share is :mod:`._options` (the common
options) and :mod:`._run` (logging, step records, the run around the output folder);
reading the inputs is :mod:`._inputs`, the model :mod:`._model`, the output folder
:mod:`._output_folder` and :mod:`._outputs`.
"""

from ._curate import CurateError, build_parser, main
from ._inputs import quote_id, unquote_id

__all__ = ["CurateError", "build_parser", "main", "quote_id", "unquote_id"]
