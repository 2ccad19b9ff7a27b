"""CPU, RAM and (where present) GPU utilisation, measured off the UI thread."""

from __future__ import annotations


def system_text() -> str:
    import psutil  # imported in the polling thread, after the first frame

    from labdeck.engine import gpus

    mem = psutil.virtual_memory()
    text = f"CPU {psutil.cpu_percent(interval=None):.0f}%  RAM {mem.used / 2**30:.1f}/{mem.total / 2**30:.0f}G"
    gpu = gpus.summary(gpus.read())
    return f"{text}  {gpu}" if gpu else text
