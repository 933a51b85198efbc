"""What the benchmarks record about the machine they ran on."""

import os
import platform
from importlib import metadata


def machine_description():
    """Returns the CPU, cores, memory, GPUs and software versions as a dict."""
    import tensorflow as tf

    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name")
        or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": (len(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity") else None),
        "memory": _memory(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name.replace("-", "_"): version(name) for name in (
            "tensorflow", "keras", "numpy", "scikit-learn", "ai-edge-litert")},
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


def load_average():
    """Returns the 1, 5 and 15 minute load averages, or `None`."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _proc_field(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory():
    total = _proc_field("/proc/meminfo", "MemTotal")
    return f"{int(total.split()[0]) / 2**20:.1f} GiB" if total else None
