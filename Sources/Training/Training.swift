// Training: see DESIGN.md "Layout".
