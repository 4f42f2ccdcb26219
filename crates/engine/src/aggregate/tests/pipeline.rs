//! A realistic multi-stage pipeline.

use bson::{Document, doc};

use super::run;
use crate::aggregate::Foreign;

fn orders() -> Vec<Document> {
    let date = |day: i64| bson::DateTime::from_millis(1_704_067_200_000 + day * 86_400_000);
    vec![
        doc! {"_id": 1, "customer": "ann", "status": "paid", "at": date(0),
        "items": [{"sku": "pen", "qty": 2, "price": 1.5}, {"sku": "ink", "qty": 1, "price": 7}]},
        doc! {"_id": 2, "customer": "bob", "status": "paid", "at": date(1),
        "items": [{"sku": "pad", "qty": 3, "price": 4}]},
        doc! {"_id": 3, "customer": "ann", "status": "void", "at": date(2),
        "items": [{"sku": "pen", "qty": 100, "price": 1.5}]},
        doc! {"_id": 4, "customer": "cid", "status": "paid", "at": date(40), "items": []},
        doc! {"_id": 5, "customer": "ann", "status": "paid", "at": date(45),
        "items": [{"sku": "pad", "qty": 1, "price": 4}]},
    ]
}

#[test]
fn revenue_per_customer() {
    let stages = vec![
        doc! {"$match": {"status": "paid"}},
        doc! {"$unwind": {"path": "$items", "preserveNullAndEmptyArrays": true}},
        doc! {"$set": {
            "line": {"$multiply": [{"$ifNull": ["$items.qty", 0]}, {"$ifNull": ["$items.price", 0]}]},
            "month": {"$dateToString": {"format": "%Y-%m", "date": "$at"}},
        }},
        doc! {"$group": {
            "_id": "$customer",
            "revenue": {"$sum": "$line"},
            "lines": {"$sum": 1},
            "months": {"$addToSet": "$month"},
            "skus": {"$push": "$items.sku"},
        }},
        doc! {"$sort": {"revenue": -1, "_id": 1}},
        doc! {"$project": {
            "_id": 0,
            "customer": {"$toUpper": "$_id"},
            "revenue": {"$round": ["$revenue", 1]},
            "lines": 1,
            "months": 1,
            "skus": 1,
            "big": {"$gte": ["$revenue", 10]},
        }},
        doc! {"$limit": 2},
    ];
    assert_eq!(
        run(stages.clone(), orders()),
        vec![
            doc! {"lines": 3, "months": ["2024-01", "2024-02"], "skus": ["pen", "ink", "pad"],
            "customer": "ANN", "revenue": 14.0, "big": true},
            doc! {"lines": 1, "months": ["2024-01"], "skus": ["pad"],
            "customer": "BOB", "revenue": 12, "big": true},
        ]
    );
    let mut counted = stages;
    counted.truncate(4);
    counted.push(doc! {"$count": "customers"});
    assert_eq!(run(counted, orders()), vec![doc! {"customers": 3}]);
}

#[test]
fn a_leading_match_may_be_applied_twice() {
    let stages = vec![doc! {"$match": {"customer": "ann"}}, doc! {"$count": "n"}];
    let p = super::pipeline(stages);
    let filter = p.leading_filter().expect("leading $match");
    let preselected: Vec<Document> = orders().into_iter().filter(|d| filter.matches(d)).collect();
    assert_eq!(
        p.run(preselected, &Foreign::new()).expect("runs"),
        p.run(orders(), &Foreign::new()).expect("runs")
    );
}
