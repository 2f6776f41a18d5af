"""Model adapters: one module per framework, same save/load shape, native safe formats."""
