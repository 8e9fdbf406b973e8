# Repository-level defaults only; the plugin itself is installed through its pytest11 entry point.
