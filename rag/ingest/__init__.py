"""Sources → articles → chunks: the corpus readers (`corpus`, `html`) and sentence-aware `chunking`."""
