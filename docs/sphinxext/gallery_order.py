"""Order of the gallery examples: by topic, as the user guide reads, not by file name."""

ORDER = [
    "main_job_from_python.py",
    "gridsearch_pipeline.py",
    "embed_with_your_model.py",
    "coverage_per_class.py",
    "mislabelled_samples.py",
    "influence_on_a_test_image.py",
    "cpu_vs_gpu_timing.py",
]


class TopicOrder:
    """Sort key for ``sphinx_gallery_conf["within_subsection_order"]``.

    Files not listed come last, by name.
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)

    def __repr__(self):
        return f"<{self.__class__.__name__}>"
