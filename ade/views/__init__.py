"""ADE views: typed function views rendering page templates, or one of their named partials for htmx."""
