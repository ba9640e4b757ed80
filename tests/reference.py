"""An independent reference convolution: numpy's padding and scipy's correlation.

Nothing here shares code with `webapp.convolution`: the padding comes from ``np.pad``, the
sums from ``scipy.signal.correlate`` with the dilation written into the kernel as zeros and
the stride applied by slicing (the slow, obvious way the engine must agree with).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal

NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def reference_correlate(
    values: NDArray[np.float64],
    kernel: NDArray[np.float64],
    *,
    stride: int,
    dilation: int,
    rows: tuple[int, int],
    columns: tuple[int, int],
    mode: str,
) -> NDArray[np.float64]:
    """2-D (or 3-D, per channel) strided, dilated, padded cross-correlation."""
    if values.ndim == 3:
        return np.stack(
            [
                reference_correlate(values[:, :, c], kernel, stride=stride, dilation=dilation,
                                    rows=rows, columns=columns, mode=mode)
                for c in range(values.shape[2])
            ],
            axis=2,
        )
    padded = np.pad(values, (rows, columns), mode=NUMPY_MODES[mode])  # type: ignore[call-overload]
    dilated = np.zeros(
        ((kernel.shape[0] - 1) * dilation + 1, (kernel.shape[1] - 1) * dilation + 1)
    )
    dilated[::dilation, ::dilation] = kernel
    full = signal.correlate(padded, dilated, mode="valid", method="direct")
    return np.asarray(full[::stride, ::stride], dtype=np.float64)
