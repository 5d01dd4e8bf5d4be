// ImageCodec: see DESIGN.md "Layout".
