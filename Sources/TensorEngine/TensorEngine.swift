// TensorEngine: see DESIGN.md "Layout".
