//! Hostile fixture: a component built against a different WIT world. The
//! host must refuse it at load time with a clear error.

wit_bindgen::generate!({
    inline: r#"
        package gavel-fixture:wrong@0.1.0;

        world wrong {
            export evaluate: func(request: string) -> string;
        }
    "#,
});

struct Wrong;

impl Guest for Wrong {
    fn evaluate(request: String) -> String {
        format!("approve {request}")
    }
}

export!(Wrong);
