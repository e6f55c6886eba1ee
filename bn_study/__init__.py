"""bn_study: the BatchNormalization claims of blog articles, rerun and measured."""
