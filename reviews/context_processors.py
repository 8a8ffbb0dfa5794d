"""Template context: the signed-in person's role and profile."""
from reviews.policies import profile_of


def role(request):
    profile = profile_of(getattr(request, "user", None))
    return {"jr_profile": profile, "jr_role": profile.role if profile else None}
