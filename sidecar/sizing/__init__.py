"""Sizing, pure and shared by the init job and the fleet commands: the task's containers, the
budget (which memory the Node container really has) and the heap plan (the Node flags for it)."""
