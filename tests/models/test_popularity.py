from recpilot.models import PopularityRecommender
from recpilot.testing import known_answer_dataset


def test_ranks_by_distinct_users() -> None:
    known = known_answer_dataset()
    model = PopularityRecommender().fit(known.dataset)
    top = model.recommend(history=[], k=3).ids()
    # Group 0 has the most users; its items are each missed by 1/6 of them, so all are top-tier.
    assert {known.group_of_item[i] for i in top} == {0}
