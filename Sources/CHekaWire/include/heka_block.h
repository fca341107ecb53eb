/* heka_block.h: the memory of messages in flight. A message is made on one thread (an
 * input's decoder) and freed on another (whichever reader lets go of it last); with
 * malloc, each such free takes the maker's arena lock, which the maker's next malloc then
 * waits on. These blocks go back to the thread that made them instead: a free from
 * another thread is one atomic push on a list its maker empties at its next allocation,
 * so the maker reuses its own memory without a lock and no thread waits on another's.
 *
 * Blocks of up to 8 KiB come in six size classes; a thread keeps at most 1 MiB of
 * spare blocks per class and gives the rest back to malloc when it next allocates (until
 * then, what other threads gave back waits on its list: at most what was in flight).
 * Larger blocks are plain malloc. Any thread may free any block; a block is freed once. */
#ifndef HEKA_BLOCK_H
#define HEKA_BLOCK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At least `size` bytes, 16-aligned; NULL when memory is exhausted. */
void *heka_block_alloc(size_t size);

/* Gives a block of heka_block_alloc back (NULL: nothing). */
void heka_block_free(void *block);

/* Raises glibc's "fast" chunk size to its maximum (160 bytes): chunks up to it are freed
 * to their arena without its lock, so a message's view object (about 150 bytes), made on
 * one thread and freed on another, no longer makes its maker wait. Process-wide: for a
 * daemon's start, before its threads; a program embedding the library keeps its own. */
void heka_block_tune_malloc(void);

#ifdef __cplusplus
}
#endif

#endif
