//! Date expressions.

use bson::{Bson, DateTime, Timestamp, bson, doc, oid::ObjectId};

use super::{eval, eval_code, eval_error, try_eval_on};

fn part(op: &str, millis: i64) -> Bson {
    let mut expr = bson::Document::new();
    expr.insert(op, "$t");
    let doc = doc! {"t": DateTime::from_millis(millis)};
    try_eval_on(Bson::Document(expr), &doc)
        .expect("evaluates")
        .expect("present")
}

#[test]
fn parts_of_a_date() {
    assert_eq!(eval(bson!({"$year": "$d"})), bson!(2024));
    assert_eq!(eval(bson!({"$month": "$d"})), bson!(2));
    assert_eq!(eval(bson!({"$dayOfMonth": "$d"})), bson!(29));
    assert_eq!(eval(bson!({"$hour": "$d"})), bson!(13));
    assert_eq!(eval(bson!({"$minute": "$d"})), bson!(45));
    assert_eq!(eval(bson!({"$second": "$d"})), bson!(30));
    assert_eq!(eval(bson!({"$millisecond": "$d"})), bson!(123));
    assert_eq!(eval(bson!({"$dayOfWeek": "$d"})), bson!(5));
    assert_eq!(eval(bson!({"$dayOfYear": "$d"})), bson!(60));
    assert_eq!(eval(bson!({"$week": "$d"})), bson!(8));
    assert_eq!(eval(bson!({"$isoWeek": ["$d"]})), bson!(9));
    assert_eq!(eval(bson!({"$isoWeekYear": "$d"})), bson!(2024));
    assert_eq!(eval(bson!({"$isoDayOfWeek": "$d"})), bson!(4));
}

#[test]
fn parts_before_the_epoch_and_at_year_boundaries() {
    assert_eq!(part("$year", -1), bson!(1969));
    assert_eq!(part("$month", -1), bson!(12));
    assert_eq!(part("$dayOfMonth", -1), bson!(31));
    assert_eq!(part("$hour", -1), bson!(23));
    assert_eq!(part("$millisecond", -1), bson!(999));
    // 2021-01-01 is a Friday in ISO week 53 of 2020.
    let new_year_2021 = 1_609_459_200_000;
    assert_eq!(part("$isoWeekYear", new_year_2021), bson!(2020));
    assert_eq!(part("$isoWeek", new_year_2021), bson!(53));
    assert_eq!(part("$week", new_year_2021), bson!(0));
    // 2024-12-30 is a Monday in ISO week 1 of 2025.
    let monday = 1_735_516_800_000;
    assert_eq!(part("$isoWeekYear", monday), bson!(2025));
    assert_eq!(part("$isoWeek", monday), bson!(1));
    assert_eq!(part("$week", monday), bson!(52));
    // 2024-03-01, the day after a leap day.
    assert_eq!(part("$dayOfYear", 1_709_251_200_000), bson!(61));
}

#[test]
fn dates_from_timestamps_and_object_ids() {
    let ts = Timestamp {
        time: 1_709_214_330,
        increment: 1,
    };
    assert_eq!(eval(bson!({"$minute": ts})), bson!(45));
    let oid = ObjectId::parse_str("65e08a7a0000000000000000").expect("object id");
    assert_eq!(eval(bson!({"$year": oid})), bson!(2024));
}

#[test]
fn time_zones_are_utc_or_fixed_offsets() {
    assert_eq!(
        eval(bson!({"$hour": {"date": "$d", "timezone": "+05:30"}})),
        bson!(19)
    );
    assert_eq!(
        eval(bson!({"$minute": {"date": "$d", "timezone": "+0530"}})),
        bson!(15)
    );
    assert_eq!(
        eval(bson!({"$dayOfMonth": {"date": "$d", "timezone": "-14"}})),
        bson!(28)
    );
    assert_eq!(
        eval(bson!({"$hour": {"date": "$d", "timezone": "UTC"}})),
        bson!(13)
    );
    assert_eq!(
        eval(bson!({"$hour": {"date": "$d", "timezone": "$missing"}})),
        Bson::Null
    );
    assert_eq!(
        eval_code(bson!({"$hour": {"date": "$d", "timezone": "Europe/Paris"}})),
        2
    );
    assert_eq!(
        eval_code(bson!({"$hour": {"date": "$d", "timezone": "nowhere"}})),
        40485
    );
    assert_eq!(
        eval_code(bson!({"$hour": {"date": "$d", "timezone": 5}})),
        40517
    );
}

#[test]
fn date_parts_refuse_bad_arguments() {
    assert_eq!(eval(bson!({"$year": "$n"})), Bson::Null);
    assert_eq!(eval(bson!({"$year": "$missing"})), Bson::Null);
    let error = eval_error(bson!({"$year": "$s"}));
    assert_eq!(error.code, 16006);
    assert_eq!(error.message, "can't convert from BSON type string to Date");
    assert_eq!(eval_code(bson!({"$year": {}})), 40539);
    assert_eq!(eval_code(bson!({"$year": {"date": "$d", "x": 1}})), 40535);
    assert_eq!(eval_code(bson!({"$year": ["$d", "$d"]})), 16020);
}

#[test]
fn date_to_string_formats() {
    assert_eq!(
        eval(bson!({"$dateToString": {"date": "$d"}})),
        bson!("2024-02-29T13:45:30.123Z")
    );
    assert_eq!(
        eval(bson!({"$dateToString": {
            "format": "%Y/%m/%d %H:%M:%S.%L %j %w %u %U %V %G %z %Z %%",
            "date": "$d",
        }})),
        bson!("2024/02/29 13:45:30.123 060 5 4 08 09 2024 +0000 0 %")
    );
    assert_eq!(
        eval(bson!({"$dateToString": {"format": "%H %z %Z", "date": "$d", "timezone": "-08:00"}})),
        bson!("05 -0800 -480")
    );
    assert_eq!(
        eval(bson!({"$dateToString": {"date": "$d", "timezone": "+01"}})),
        bson!("2024-02-29T14:45:30.123Z")
    );
}

#[test]
fn date_to_string_nulls_and_errors() {
    assert_eq!(
        eval(bson!({"$dateToString": {"date": "$missing"}})),
        Bson::Null
    );
    assert_eq!(
        eval(bson!({"$dateToString": {"date": "$missing", "onNull": "none"}})),
        bson!("none")
    );
    assert_eq!(
        eval(bson!({"$dateToString": {"date": "$d", "format": null}})),
        Bson::Null
    );
    assert_eq!(
        eval_code(bson!({"$dateToString": {"date": "$d", "format": 1}})),
        18533
    );
    let error = eval_error(bson!({"$dateToString": {"date": "$d", "format": "%Q"}}));
    assert_eq!(error.code, 18536);
    assert_eq!(
        error.message,
        "Invalid format character '%Q' in format string"
    );
    assert_eq!(
        eval_code(bson!({"$dateToString": {"date": "$d", "format": "%Y%"}})),
        18535
    );
    assert_eq!(eval_code(bson!({"$dateToString": {"format": "%Y"}})), 18628);
    assert_eq!(
        eval_code(bson!({"$dateToString": {"date": "$d", "x": 1}})),
        18534
    );
    assert_eq!(eval_code(bson!({"$dateToString": "$d"})), 18629);
    assert_eq!(eval_code(bson!({"$dateToString": {"date": "$s"}})), 16006);
    let far = DateTime::from_millis(253_402_300_800_000); // 10000-01-01
    assert_eq!(eval_code(bson!({"$dateToString": {"date": far}})), 18537);
}
