"""Fetchers: turn one index (or one batch of indices) from the sampler into collated data. The
same ones run in the main process (`num_workers=0`) and in worker processes."""


class MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn

    def fetch(self, index):
        ds = self.dataset
        if self.auto_collation:
            getitems = getattr(ds, "__getitems__", None)
            return self.collate_fn(getitems(index) if callable(getitems) else [ds[i] for i in index])
        return self.collate_fn(ds[index])


class IterableFetcher:
    """Draws the next sample, or `len(index)` samples for a batch, from the dataset's iterator;
    StopIteration once it is exhausted (after a last, shorter batch unless `drop_last`)."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        batch = []
        for _ in index:
            try:
                batch.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not batch or (self.drop_last and len(batch) < len(index)):
            raise StopIteration
        return self.collate_fn(batch)


def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
    return (IterableFetcher if kind == "iterable" else MapFetcher)(dataset, auto_collation, collate_fn, drop_last)
